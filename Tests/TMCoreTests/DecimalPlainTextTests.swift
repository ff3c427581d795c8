import Foundation
@testable import TMCore
import Testing

/// `DecimalText.plain` writes what `Decimal.description` writes, byte for byte, for every value:
/// its own writer for a significand of up to 64 bits and an exponent within ±40, `description`
/// for the rest (NaN, wider significands, larger exponents). Compared over literal edge forms,
/// every digit count and point position, and random significands and exponents of both signs.
struct DecimalPlainTextTests {
    static func same(_ value: Decimal) -> Bool {
        Array(DecimalText.plain(value).utf8) == Array(value.description.utf8)
    }

    static func describe(_ value: Decimal) -> String {
        "bytes \(withUnsafeBytes(of: value) { Array($0) }) description \(value.description) plain \(DecimalText.plain(value))"
    }

    @Test func literalEdgeForms() throws {
        let literals = [
            "0", "-0", "0.0", "-0.000", "1", "-1", "0.1", "-0.1", "1.50", "100", "1e5", "1E-7", "-0.00000001", "007.50", "10.0",
            "123456789012345678", "-123456789012345678.9", "18446744073709551615", "1844674407370955161.5", "0.18446744073709551615",
            "18446744073709551616", "-18446744073709551616", "99999999999999999999", "12345678901234.12345678",
            "1e40", "1e41", "1e-40", "1e-41", "5e-39", "1.5e-39", "123e38", "-123e-38", "1e127", "1e-127",
            "99999999999999999999999999999999999999", "0.00000000000000000000000000000000000001", "2500", "25e2", "2.5e3",
            // Past the writer's exponent bounds (its buffer holds a text of 64 bytes): description's.
            "123e125", "-9e127", "-18446744073709551615e110", "18446744073709551615e120", "18446744073709551615e-60",
        ]
        for literal in literals {
            let value = try #require(Decimal(string: literal, locale: Locale(identifier: "en_US_POSIX")), "\(literal)")
            #expect(Self.same(value), "\(literal): \(Self.describe(value))")
            if let strict = DecimalText.parse(literal) { #expect(Self.same(strict), "\(literal) (parse): \(Self.describe(strict))") }
        }
        #expect(DecimalText.plain(.nan) == Decimal.nan.description)
        #expect(Self.same(Decimal.greatestFiniteMagnitude))
        #expect(Self.same(Decimal.leastNonzeroMagnitude))
        #expect(Self.same(Decimal(1) / Decimal(3)))
        #expect(Self.same(-Decimal(2) / Decimal(3)))
    }

    /// A decimal whose significand words past its stated length are not zero (made by hand: no
    /// Foundation operation makes one) is written as `description` writes it.
    @Test func wordsPastTheLengthAreDescriptions() throws {
        var value = try #require(Decimal(string: "1.50", locale: Locale(identifier: "en_US_POSIX")))
        try #require(DecimalText.Layout(value)?.length == 1)
        withUnsafeMutableBytes(of: &value) { bytes in bytes[14] = 7 }  // word 5
        #expect(DecimalText.plain(value) == value.description, "\(value.description)")
    }

    /// Every digit count from 1 to 22 (past 64 bits) and every place of the point, both signs,
    /// trailing zeros kept in the significand.
    @Test func everyDigitCountAndPointPlace() throws {
        var generator = SystemRandomNumberGenerator()
        for digits in 1...22 {
            for _ in 0..<20 {
                var text = String(Int.random(in: 1...9, using: &generator))
                for _ in 1..<digits { text.append(String(Int.random(in: 0...9, using: &generator))) }
                if Bool.random(using: &generator) { text = String(text.dropLast(min(3, text.count - 1))) + String(repeating: "0", count: min(3, text.count - 1)) }
                for point in 0...text.count {
                    for sign in ["", "-"] {
                        let literal = point == text.count ? sign + text : sign + (point == 0 ? "0" : String(text.prefix(point))) + "." + text.dropFirst(point)
                        let value = try #require(Decimal(string: literal, locale: Locale(identifier: "en_US_POSIX")), "\(literal)")
                        #expect(Self.same(value), "\(literal): \(Self.describe(value))")
                    }
                }
            }
        }
    }

    /// Random significands (every width up to 64 bits, and a few wider) and exponents past the
    /// writer's ±40 on both sides.
    @Test func randomSignificandsAndExponents() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let bits = Int.random(in: 1...64, using: &generator)
            let significand = UInt64.random(in: 0...UInt64.max, using: &generator) >> (64 - bits)
            let exponent = Int.random(in: -50...50, using: &generator)
            let sign: FloatingPointSign = Bool.random(using: &generator) ? .minus : .plus
            var value = Decimal(sign: sign, exponent: exponent, significand: Decimal(significand))
            #expect(Self.same(value), "\(Self.describe(value))")
            value *= Decimal(UInt64.random(in: 2...1_000_000, using: &generator))  // wider than 64 bits at times
            #expect(Self.same(value), "\(Self.describe(value))")
        }
    }

    /// Significands as stored, trailing zeros included where the value keeps them, at the
    /// writer's bounds: the widest it takes (64 bits), one word more, exponents ±40 and ±41.
    @Test func boundsOfTheWriter() {
        // The writer is in use here (else every comparison above would be `description` against itself).
        #expect(DecimalText.Layout.readable)
        #expect(DecimalText.Layout(Decimal(string: "-1.5")!).map { [$0.exponent, $0.length, $0.negative ? 1 : 0, Int($0.significand)] } == [-1, 1, 1, 15])
        for exponent in [-41, -40, -39, -20, -5, -1, 0, 1, 5, 39, 40, 41] {
            for sign in [FloatingPointSign.plus, .minus] {
                for significand: UInt64 in [1, 150, 10_000, 0x1234_0000_5678, UInt64.max, UInt64.max - 5, 1 << 63] {
                    let value = Decimal(sign: sign, exponent: exponent, significand: Decimal(significand))
                    #expect(Self.same(value), "\(significand)e\(exponent): \(Self.describe(value))")
                    let wider = value * Decimal(65_536)
                    #expect(Self.same(wider), "\(significand)e\(exponent) × 65536: \(Self.describe(wider))")
                }
            }
        }
    }
}
