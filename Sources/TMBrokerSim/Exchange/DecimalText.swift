import Foundation

/// Exact decimal parsing and formatting for prices, quantities and fees.
///
/// Why: `Decimal(string:)` accepts "12abc" as 12 and `Double` cannot hold 0.1; every number the
/// simulator reads or writes goes through here so the brokers' texts round-trip exactly.
public enum DecimalText {
    /// A plain decimal (`-?digits[.digits]`, or a JSON exponent form), else nil.
    public static func parse(_ text: String) -> Decimal? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var i = 0
        if bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") { i += 1 }
        var digits = 0
        var sawDot = false
        var sawExponent = false
        while i < bytes.count {
            let byte = bytes[i]
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                digits += 1
            } else if byte == UInt8(ascii: "."), !sawDot, !sawExponent {
                sawDot = true
            } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E"), !sawExponent, digits > 0 {
                sawExponent = true
                if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "-") || bytes[i + 1] == UInt8(ascii: "+") { i += 1 }
                guard i + 1 < bytes.count else { return nil }
            } else {
                return nil
            }
            i += 1
        }
        guard digits > 0 else { return nil }
        return Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
    }

    /// The shortest exact text, e.g. `101.5`, `0.00001`, `-3`.
    public static func plain(_ value: Decimal) -> String {
        var copy = value
        return NSDecimalString(&copy, Locale(identifier: "en_US_POSIX"))
    }

    /// Exactly `scale` fraction digits (rounded half-even), e.g. Binance's `0.10000000`.
    public static func fixed(_ value: Decimal, scale: Int) -> String {
        let text = plain(value.rounded(scale: scale))
        guard scale > 0 else { return text }
        let parts = text.split(separator: ".", maxSplits: 1)
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        return "\(parts[0]).\(fraction)\(String(repeating: "0", count: max(0, scale - fraction.count)))"
    }
}

extension Decimal {
    /// Rounded to `scale` fraction digits.
    public func rounded(scale: Int, _ mode: NSDecimalNumber.RoundingMode = .bankers) -> Decimal {
        var source = self
        var result = Decimal()
        NSDecimalRound(&result, &source, scale, mode)
        return result
    }

    /// True when `self` is a whole multiple of `step` (lot sizes, tick sizes).
    public func isMultiple(of step: Decimal) -> Bool {
        guard step > 0 else { return true }
        let ratio = self / step
        return ratio == ratio.rounded(scale: 0, .down)
    }

    /// The nearest multiple of `step`.
    public func roundedToMultiple(of step: Decimal) -> Decimal {
        guard step > 0 else { return self }
        return (self / step).rounded(scale: 0, .plain) * step
    }
}
