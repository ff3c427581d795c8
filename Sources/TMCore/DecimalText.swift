import Foundation

/// Decimal text in and out, exactly: the one way the broker adapters (TMBrokers) and the broker
/// simulator (TMBrokerSim) turn a price, quantity or fee into a `Decimal` and back.
///
/// Why not `Decimal(string:)` alone: it reads `"12abc"` as 12; and why never `Double`: it cannot
/// hold 0.1, so `0.1 + 0.2` would not be `0.3`.
///
/// Guarantees: `parse` accepts only a complete decimal literal (`-12.50`, `0.1`, `1e-7`,
/// `007.50`) and goes straight from the digits to `Decimal`, so `12345678901234.12345678` stays
/// exactly that; anything else (`12abc`, `1,5`, `NaN`, `.5`, empty, more than 38 significant
/// digits) is nil, never a prefix guess. `plain` is positional notation with a `.` separator
/// whatever the locale; `fixed` has exactly the asked number of fraction digits.
public enum DecimalText {
    private static let posix = Locale(identifier: "en_US_POSIX")

    /// `-? digits (. digits)? ([eE] [+-]? digits)?`, at most 38 significant digits (what `Decimal`
    /// holds exactly) and a three-digit exponent; else nil.
    public static func parse(_ text: String) -> Decimal? {
        guard isLiteral(text, lenient: false) else { return nil }
        return plainDigits(text) ?? Decimal(string: text, locale: posix)
    }

    /// Like `parse`, and also `+5`, `.5`, `5.` and any number of digits: the forms broker-sim has
    /// always accepted in requests. Kept separate so the simulator's answers stay as they were;
    /// the adapters use the strict `parse`.
    public static func parseLenient(_ text: String) -> Decimal? {
        guard isLiteral(text, lenient: true) else { return nil }
        return Decimal(string: text, locale: posix)
    }

    /// The shortest exact text, e.g. `101.5`, `0.00001`, `-3`.
    ///
    /// `description` is `NSDecimalString` with a `.` separator (what the POSIX locale gives)
    /// without looking the locale up: a third less work on every price and quantity written.
    /// A significand that fits 64 bits (every price and quantity an order carries) is written
    /// here, byte for byte as `description` writes it (its digits as stored — trailing zeros
    /// kept —, the point placed by the exponent): `description` divides the 128-bit significand
    /// by ten a digit at a time (~3,700 instructions a call, session 35). Anything else, NaN
    /// included, is `description`'s — and everything is, should `Layout` not read this
    /// Foundation's decimals as it expects.
    public static func plain(_ value: Decimal) -> String {
        guard Layout.readable, let fields = Layout(value), fields.length <= 4, fields.exponent >= -40, fields.exponent <= 40,
              fields.significand != 0 else { return value.description }
        let significand = fields.significand, exponent = fields.exponent
        // The text (at most a sign, 40 zeros, a point and 20 digits) goes in out[0..<64], the
        // significand's digits in out[64..<128], most significant first.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { out in
            var rest = significand, first = 128
            while rest != 0 {
                first -= 1
                out[first] = UInt8(truncatingIfNeeded: rest % 10) | 0x30
                rest /= 10
            }
            let count = 128 - first
            var at = 0
            func put(_ byte: UInt8) { out[at] = byte; at += 1 }
            func putDigits(_ range: Range<Int>) { for index in range { put(out[index]) } }
            if fields.negative { put(UInt8(ascii: "-")) }
            if exponent >= 0 {
                putDigits(first..<128)
                for _ in 0..<exponent { put(UInt8(ascii: "0")) }
            } else if -exponent < count {
                putDigits(first..<(128 + exponent))
                put(UInt8(ascii: "."))
                putDigits((128 + exponent)..<128)
            } else {
                put(UInt8(ascii: "0"))
                put(UInt8(ascii: "."))
                for _ in 0..<(-exponent - count) { put(UInt8(ascii: "0")) }
                putDigits(first..<128)
            }
            return String(decoding: UnsafeBufferPointer(rebasing: out[0..<at]), as: UTF8.self)
        }
    }

    /// A `Decimal`'s stored fields, read from its bytes: FoundationEssentials keeps them as
    /// `NSDecimal` lays them out (exponent: byte 0, signed; length of the significand in 16-bit
    /// words: byte 1's high nibble; sign: bit 3 of byte 1; the significand: eight little-endian
    /// words from byte 4), but its accessors (`_length`, `_mantissa`, ...) are not public.
    /// `readable` checks that reading once against the public `exponent` and `sign`, and the
    /// significands they were made with, for known values; if any disagrees, `plain` never uses it.
    struct Layout {
        var exponent: Int
        var length: Int
        var negative: Bool
        /// The first four words (all of it when `length` ≤ 4).
        var significand: UInt64

        init?(_ value: Decimal) {
            guard MemoryLayout<Decimal>.size == 20 else { return nil }
            let fields: Layout? = withUnsafeBytes(of: value) { bytes in
                let length = Int(bytes[1] >> 4)
                guard length > 0 else { return nil }  // zero, or NaN (negative with no significand)
                // Words past the fourth must be zero when `length` ≤ 4 says so; a value that says
                // otherwise (none of Foundation's operations makes one) is left to `description`.
                guard length > 4 || (12..<20).allSatisfy({ bytes[$0] == 0 }) else { return nil }
                var significand: UInt64 = 0
                for word in 0..<4 { significand |= UInt64(bytes[4 + 2 * word]) << (16 * word) | UInt64(bytes[5 + 2 * word]) << (16 * word + 8) }
                return Layout(exponent: Int(Int8(bitPattern: bytes[0])), length: length, negative: bytes[1] & 0x08 != 0, significand: significand)
            }
            guard let fields else { return nil }
            self = fields
        }

        private init(exponent: Int, length: Int, negative: Bool, significand: UInt64) {
            self.exponent = exponent
            self.length = length
            self.negative = negative
            self.significand = significand
        }

        static let readable: Bool = {
            let known: [(Decimal, exponent: Int, length: Int, significand: UInt64)] = [
                (Decimal(sign: .minus, exponent: -3, significand: Decimal(UInt64(123_456))), -3, 2, 123_456),
                (Decimal(sign: .plus, exponent: 7, significand: Decimal(UInt64(0xFEDC_BA98_7654_3211))), 7, 4, 0xFEDC_BA98_7654_3211),
                (Decimal(sign: .plus, exponent: -40, significand: Decimal(UInt64(1))), -40, 1, 1),
            ]
            for (value, exponent, length, significand) in known {
                guard let fields = Layout(value), fields.exponent == exponent, fields.exponent == value.exponent, fields.length == length,
                      fields.negative == (value.sign == .minus), fields.significand == significand else { return false }
            }
            return Layout(Decimal.nan) == nil && Layout(Decimal(0)) == nil
        }()
    }

    /// Exactly `scale` fraction digits (rounded half-even), e.g. Binance's `0.10000000`.
    public static func fixed(_ value: Decimal, scale: Int) -> String {
        var source = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &source, scale, .bankers)
        let text = plain(rounded)
        guard scale > 0 else { return text }
        let parts = text.split(separator: ".", maxSplits: 1)
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        return "\(parts[0]).\(fraction)\(String(repeating: "0", count: max(0, scale - fraction.count)))"
    }

    /// The common case of `parse` without `Decimal(string:)` (a locale-aware scanner, most of a
    /// command's parse): `-? digits (. digits)?`, not zero, at most 18 significant digits — one
    /// `UInt64` of digits, which is the same `Decimal`, representation and all, as `Decimal(string:)`
    /// gives (`DecimalTextLiteralTests`). Trailing zeros go to the exponent so that a round number
    /// longer than 18 digits still fits. Zero and anything else is nil, left to `Decimal(string:)`.
    private static func plainDigits(_ text: String) -> Decimal? {
        var text = text
        return text.withUTF8 { bytes -> Decimal? in
            guard bytes.count <= 40 else { return nil }
            var index = 0
            let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
            if negative { index += 1 }
            var value: UInt64 = 0
            var significant = 0, fractionDigits = 0, pendingZeros = 0
            var seenPoint = false
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "."), !seenPoint {
                    seenPoint = true
                    continue
                }
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                if seenPoint { fractionDigits += 1 }
                let digit = UInt64(byte - UInt8(ascii: "0"))
                if digit == 0 {
                    // A zero counts only if a nonzero digit follows (else it goes to the exponent).
                    if significant > 0 { pendingZeros += 1 }
                    continue
                }
                significant += pendingZeros + 1
                guard significant <= 18 else { return nil }
                for _ in 0..<pendingZeros { value *= 10 }
                value = value * 10 + digit
                pendingZeros = 0
            }
            guard value > 0 else { return nil }  // zero's representation is Decimal(string:)'s own
            let exponent = pendingZeros - fractionDigits
            guard exponent >= -128, exponent <= 127 else { return nil }  // cannot fail within 40 bytes; Decimal's bounds, kept with the code that relies on them
            return Decimal(sign: negative ? .minus : .plus, exponent: exponent, significand: Decimal(value))
        }
    }

    /// Whether `text` is a whole decimal literal, checked before `Decimal(string:)` sees it
    /// (which would otherwise read a prefix). Reads the string's bytes in place (no arrays: it
    /// runs for every price and quantity read).
    private static func isLiteral(_ text: String, lenient: Bool) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var index = 0
            func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
            /// Consumes a run of digits and returns where it lies.
            func digits() -> Range<Int> {
                let start = index
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
                return start..<index
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || (lenient && bytes[index] == UInt8(ascii: "+")) { index += 1 }
            let integer = digits()
            guard lenient || !integer.isEmpty else { return false }
            var fraction = index..<index
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                fraction = digits()
                guard lenient || !fraction.isEmpty else { return false }
            }
            guard !integer.isEmpty || !fraction.isEmpty else { return false }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                let exponent = digits()
                guard !exponent.isEmpty, lenient || exponent.count <= 3 else { return false }
            }
            guard index == bytes.count else { return false }
            if lenient { return true }
            // Significant digits: integer then fraction digits, from the first that is not 0.
            let firstInteger = integer.first { bytes[$0] != UInt8(ascii: "0") }
            let significant = firstInteger.map { integer.upperBound - $0 + fraction.count }
                ?? fraction.first { bytes[$0] != UInt8(ascii: "0") }.map { fraction.upperBound - $0 } ?? 0
            return significant <= 38
        }
    }
}
