import Foundation

/// Decimal text in and out, exactly: the only way the adapters turn a broker's price or quantity
/// into a `Decimal` and back.
///
/// Guarantees: `parse` accepts only a complete decimal literal (`-12.50`, `0.1`, `1e-7`) and goes
/// straight from the digits to `Decimal` (no `Double` on the way), so `12345678901234.12345678`
/// stays exactly that; anything else (`12abc`, `1,5`, `NaN`, empty) is nil, never a prefix guess.
/// `text` is plain positional notation with a `.` separator, whatever the locale.
public enum ExactDecimal {
    private static let posix = Locale(identifier: "en_US_POSIX")

    public static func parse(_ text: String) -> Decimal? {
        guard isDecimalLiteral(text) else { return nil }
        return Decimal(string: text, locale: posix)
    }

    public static func text(_ value: Decimal) -> String { value.description }

    /// `-? digits (. digits)? ([eE] [+-]? digits)?`, with at most 38 significant digits (what
    /// `Decimal` holds exactly).
    static func isDecimalLiteral(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        /// Consumes a run of digits and returns it.
        func digits() -> ArraySlice<UInt8> {
            let start = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            return bytes[start..<index]
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integer = digits()
        guard !integer.isEmpty else { return false }
        var fraction: ArraySlice<UInt8> = []
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fraction = digits()
            guard !fraction.isEmpty else { return false }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let exponent = digits()
            guard !exponent.isEmpty, exponent.count <= 3 else { return false }
        }
        guard index == bytes.count else { return false }
        let significant = (Array(integer) + Array(fraction)).drop { $0 == UInt8(ascii: "0") }
        return significant.count <= 38
    }
}
