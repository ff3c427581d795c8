import CLibpq

extension PostgresConnection {
    /// The libpq version this build links, e.g. "15.18".
    public static var libraryVersion: String {
        let number = Int(PQlibVersion())
        return number >= 100000 ? "\(number / 10000).\(number % 10000)" : "\(number / 10000).\(number / 100 % 100).\(number % 100)"
    }
}
