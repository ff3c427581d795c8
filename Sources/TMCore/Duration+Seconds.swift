import Foundation

extension Duration {
    /// The duration as fractional seconds, for C APIs that take `timeval`s or doubles.
    public var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }

    /// The duration in whole milliseconds (rounded down), for C APIs and Redis commands.
    public var milliseconds: Int64 {
        let (s, attos) = components
        return s * 1000 + attos / 1_000_000_000_000_000
    }
}
