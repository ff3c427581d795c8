import Foundation
@testable import TMCore
import Testing

/// `FixedDecimal(exactly: Decimal)` reads the decimal's mantissa and exponent directly: it must make
/// of every value exactly what parsing the decimal's text makes (the same number, or the same refusal).
@Suite struct FixedDecimalFromDecimalTests {
    static func throughText(_ decimal: Decimal) -> FixedDecimal? { FixedDecimal(DecimalText.plain(decimal)) }

    /// On this platform the mantissa is read in place; a layout that stopped matching would fall back
    /// to the text path silently (right, but slow again), so this says so.
    @Test func theMantissaIsReadInPlaceOnThisPlatform() {
        #expect(FixedDecimal.decimalLayoutIsKnown)
    }

    @Test(arguments: [
        "0", "1", "-1", "0.5", "-0.5", "1500.05", "-0.38962051", "0.000000001", "-0.000000001",
        "0.0000000001", "-0.0000000001", "0.1234567891", "123.456789", "100.000000000000", "-7.000000000100",
        "999999999999999999.999999999", "-999999999999999999.999999999", "999999999999999999", "1000000000000000000",
        "-1000000000000000000", "1e17", "1e18", "1e-9", "1e-10", "12345678901234567890.5", "0.00000000000000000000000001",
        "340282366920938463463374607431768211455", "12345678901234.123456789", "1.5E3", "25E-9", "-25E-10",
    ])
    func sameAsTheTextPath(_ text: String) throws {
        let decimal = try #require(Decimal(string: text))
        #expect(FixedDecimal(exactly: decimal) == Self.throughText(decimal), "\(text) → \(decimal)")
    }

    @Test func refusesWhatItCannotHoldAndNaN() throws {
        #expect(FixedDecimal(exactly: Decimal.nan) == nil)
        #expect(FixedDecimal(exactly: Decimal(1) / Decimal(3)) == nil)
        #expect(FixedDecimal(exactly: try #require(Decimal(string: "0.0000000001"))) == nil)
        #expect(FixedDecimal(exactly: try #require(Decimal(string: "1000000000000000000"))) == nil)
        #expect(FixedDecimal(exactly: try #require(Decimal(string: "-0.38962051"))) == FixedDecimal("-0.38962051"))
    }

    /// Thousands of mantissas and exponents (a fixed pseudo-random sequence): signs, zero, up to 19
    /// digits, exponents from −24 to 20 — in range or not, nine places or more.
    @Test func sameAsTheTextPathForGeneratedValues() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        var mismatches: [String] = []
        for _ in 0..<5_000 {
            let digits = Int(next() % 20)
            var significand: UInt64 = 1
            for _ in 0..<digits { significand = significand &* 10 }
            let mantissa = digits == 0 ? next() % 10 : next() % significand
            let exponent = Int(next() % 45) - 24
            let decimal = Decimal(sign: next() % 2 == 0 ? .plus : .minus, exponent: exponent, significand: Decimal(mantissa))
            if FixedDecimal(exactly: decimal) != Self.throughText(decimal) { mismatches.append("\(decimal)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }
}
