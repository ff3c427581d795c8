import Foundation

/// Text for the URLs this project renders for child processes (`TM_DATABASE_URL`, `TM_REDIS_URL`).
///
/// Guarantees: RFC 3986's unreserved characters (and any `keeping` characters) pass; every other
/// byte of the UTF-8 text is percent-encoded, so the URL parsers read the text back unchanged.
public enum URLText {
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    public static func percentEncoded(_ text: String, keeping: String = "") -> String {
        let allowed = keeping.isEmpty ? unreserved : unreserved.union(CharacterSet(charactersIn: keeping))
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
