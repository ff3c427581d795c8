import Foundation

/// An exact decimal with nine fraction digits, held as a whole number of 10⁻⁹ in an `Int128`: the
/// number type of the order path's hot loop (risk checks, routing), where Foundation's `Decimal`
/// costs microseconds per operation. Nine places hold every broker's prices and quantities
/// (Binance 8, Alpaca fractional shares 9).
///
/// Guarantees: parsing is exact or fails (`init?(_:)` refuses text with a nonzero tenth decimal,
/// an exponent form it cannot hold, or magnitude ≥ 10¹⁸), so a value is never silently rounded on
/// the way in; `+`, `-` and comparisons are exact; `*` rounds the 18-place product to nine places
/// away from zero (a notional checked against a limit is never understated); arithmetic saturates
/// at the type's bounds instead of trapping, so absurd input is refused by the limit it exceeds,
/// never a crash. `decimal` and `description` convert back exactly.
public struct FixedDecimal: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public static let scale = 9
    static let one: Int128 = 1_000_000_000
    /// The largest magnitude `init?(_:)` accepts: 10¹⁸.
    static let inputBound: Int128 = 1_000_000_000_000_000_000 * one

    /// The value × 10⁹.
    public var units: Int128

    public init(units: Int128) { self.units = units }

    public init(integerLiteral value: Int64) { units = Int128(value) * Self.one }

    public init(_ value: Int) { units = Int128(value) * Self.one }

    public static let zero = FixedDecimal(units: 0)
    public static let max = FixedDecimal(units: .max)

    /// Exact parse of `-? digits (. digits)?` (as `DecimalText.parse` accepts, exponents included);
    /// nil when the value needs more than nine places or is out of range.
    public init?(_ text: String) {
        guard let value = Self.parse(Array(text.utf8)) else { return nil }
        units = value
    }

    /// The same value, when it has at most nine places and is in range (nil for NaN) — what
    /// `init?(_:)` makes of the decimal's text, built from its mantissa and exponent instead (the
    /// text round trip cost ~23,000 instructions per order).
    public init?(exactly decimal: Decimal) {
        guard !decimal.isNaN else { return nil }
        guard let mantissa = Self.mantissa(of: decimal) else {
            self.init(DecimalText.plain(decimal))
            return
        }
        guard let magnitude = Self.units(mantissa: mantissa, exponent: decimal.exponent) else { return nil }
        self.init(units: decimal.sign == .minus ? -Int128(magnitude) : Int128(magnitude))
    }

    /// mantissa × 10^exponent × 10⁹, when exact and below `inputBound` (as `parse` decides).
    private static func units(mantissa: UInt128, exponent: Int) -> UInt128? {
        guard mantissa != 0 else { return 0 }
        var magnitude = mantissa
        var shift = exponent + scale
        while shift < 0 {
            guard magnitude % 10 == 0 else { return nil }  // a nonzero digit past the ninth place
            magnitude /= 10
            shift += 1
        }
        let bound = UInt128(inputBound)
        while shift > 0 {
            guard magnitude < bound else { return nil }
            magnitude *= 10
            shift -= 1
        }
        return magnitude < bound ? magnitude : nil
    }

    /// The decimal's 128-bit mantissa. Foundation keeps it internal on Linux, in the layout of
    /// `NSDecimal` (a 4-byte header whose second byte holds the length in words in its high four
    /// bits — swift-foundation's packing — then eight 16-bit words, least significant first); read from there only when known
    /// values read back right, else nil (the caller goes through text). Only the words the length
    /// covers are read: nothing promises the others are zero.
    private static func mantissa(of decimal: Decimal) -> UInt128? {
        guard decimalLayoutIsKnown else { return nil }
        return rawMantissa(decimal)
    }

    private static func rawMantissa(_ decimal: Decimal) -> UInt128 {
        withUnsafeBytes(of: decimal) { bytes in
            let length = min(Int(bytes[1] >> 4), 8)
            var mantissa: UInt128 = 0
            for word in stride(from: length - 1, through: 0, by: -1) {
                let low = UInt128(bytes[4 + 2 * word]), high = UInt128(bytes[5 + 2 * word])
                mantissa = mantissa << 16 | high << 8 | low
            }
            return mantissa
        }
    }

    /// Internal for the test that the fast path is taken on this platform.
    static let decimalLayoutIsKnown: Bool = {
        guard MemoryLayout<Decimal>.size == 20 else { return false }
        let probe = Decimal(sign: .minus, exponent: -3, significand: Decimal(0x1234_5678_9ABC_DEF1 as UInt64))
        let wide = Decimal(string: "123456789012345678901234567890123")!
        // Lengths 4 and 7 words: a misread length nibble reads back wrong in one of them.
        return rawMantissa(probe) == 0x1234_5678_9ABC_DEF1 && probe.exponent == -3
            && rawMantissa(wide) == 123_456_789_012_345_678_901_234_567_890_123 && wide.exponent == 0
    }()

    public var decimal: Decimal { DecimalText.parse(description)! }

    public var description: String {
        // Formatted into a stack buffer, not by String surgery: the analytics write millions of these.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { buffer in
            String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<format(into: buffer)]), as: UTF8.self)
        }
    }

    /// Appends `description`'s UTF-8 bytes to `out` without making a `String` (bulk writers).
    public func write(to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 48) { buffer in
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<format(into: buffer)]))
        }
    }

    /// Writes `-? whole (. fraction without trailing zeros)?` at the start of `buffer` (≥ 48 bytes:
    /// 39 digits of Int128, a sign, a point and nine places); returns the length.
    private func format(into buffer: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let magnitude = units.magnitude
        var whole = magnitude / UInt128(Self.one)
        var fraction = UInt64(magnitude % UInt128(Self.one))
        var digits = 0
        // Whole digits, least significant first, at the end of the buffer; then moved forward.
        var end = buffer.count
        repeat {
            end -= 1
            buffer[end] = UInt8(ascii: "0") + UInt8(whole % 10)
            whole /= 10
            digits += 1
        } while whole > 0
        var length = 0
        if units < 0 {
            buffer[0] = UInt8(ascii: "-")
            length = 1
        }
        for i in 0..<digits { buffer[length + i] = buffer[end + i] }
        length += digits
        guard fraction != 0 else { return length }
        var places = Self.scale
        while fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        buffer[length] = UInt8(ascii: ".")
        for i in stride(from: places, through: 1, by: -1) {
            buffer[length + i] = UInt8(ascii: "0") + UInt8(fraction % 10)
            fraction /= 10
        }
        return length + 1 + places
    }

    public static func < (lhs: FixedDecimal, rhs: FixedDecimal) -> Bool { lhs.units < rhs.units }

    public static func + (lhs: FixedDecimal, rhs: FixedDecimal) -> FixedDecimal {
        let (sum, overflow) = lhs.units.addingReportingOverflow(rhs.units)
        return overflow ? (rhs.units > 0 ? .max : FixedDecimal(units: -.max)) : FixedDecimal(units: sum)
    }

    public static func - (lhs: FixedDecimal, rhs: FixedDecimal) -> FixedDecimal { lhs + (-rhs) }

    public static prefix func - (value: FixedDecimal) -> FixedDecimal { FixedDecimal(units: value.units == .min ? .max : -value.units) }

    public static func += (lhs: inout FixedDecimal, rhs: FixedDecimal) { lhs = lhs + rhs }
    public static func -= (lhs: inout FixedDecimal, rhs: FixedDecimal) { lhs = lhs - rhs }

    /// The product rounded to nine places away from zero.
    public static func * (lhs: FixedDecimal, rhs: FixedDecimal) -> FixedDecimal {
        let (product, overflow) = lhs.units.multipliedReportingOverflow(by: rhs.units)
        let negative = (lhs.units < 0) != (rhs.units < 0)
        guard !overflow else { return negative ? FixedDecimal(units: -.max) : .max }
        var quotient = product / one
        if product % one != 0 { quotient += negative ? -1 : 1 }
        return FixedDecimal(units: quotient)
    }

    public var magnitude: FixedDecimal { units < 0 ? -self : self }

    /// Whether this is a whole number of `step`s (a lot, a tick); false for a step ≤ 0.
    public func isMultiple(of step: FixedDecimal) -> Bool { step.units > 0 && units % step.units == 0 }

    /// Whether it has at most `places` decimal places.
    public func fits(places: Int) -> Bool {
        guard places < Self.scale else { return true }
        var divisor: Int128 = 1
        for _ in 0..<(Self.scale - Swift.max(0, places)) { divisor *= 10 }
        return units % divisor == 0
    }

    private static func parse(_ bytes: [UInt8]) -> Int128? {
        var index = 0
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var mantissa: Int128 = 0, fractionDigits = 0, sawDigit = false, sawDot = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                sawDigit = true
                if sawDot { fractionDigits += 1 }
                // Digits past what the type can hold: only zeros may follow the ninth place.
                if mantissa > inputBound * 10 { return nil }
                mantissa = mantissa * 10 + Int128(byte - UInt8(ascii: "0"))
            } else if byte == UInt8(ascii: "."), !sawDot, sawDigit {
                sawDot = true
            } else {
                break
            }
            index += 1
        }
        guard sawDigit, !(sawDot && bytes[index - 1] == UInt8(ascii: ".")) else { return nil }
        var exponent = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") else { return nil }
            index += 1
            var exponentNegative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"), index - start < 3 {
                exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                index += 1
            }
            guard index > start, index == bytes.count else { return nil }
            if exponentNegative { exponent = -exponent }
        }
        // value = mantissa × 10^(exponent − fractionDigits); units = value × 10^9.
        var shift = exponent - fractionDigits + scale
        var units = mantissa
        while shift < 0 {
            guard units % 10 == 0 else { return nil }  // a nonzero digit past the ninth place
            units /= 10
            shift += 1
        }
        while shift > 0 {
            guard units <= inputBound else { return nil }
            units *= 10
            shift -= 1
        }
        guard units < inputBound else { return nil }
        return negative ? -units : units
    }
}
