import Foundation
import TMCore
import Testing

/// `DecimalText.parse` checks the literal on the string's bytes: a whole literal only, at most 38
/// significant digits (leading zeros of the integer and the fraction not counted), exactly; its
/// fast path for plain digits gives `Decimal(string:)`'s very value, byte for byte.
@Suite struct DecimalTextLiteralTests {
    static let digits38 = "12345678901234567890123456789012345678"

    @Test func thirtyEightSignificantDigitsAreTheLimit() {
        #expect(DecimalText.parse(Self.digits38) == Decimal(string: Self.digits38, locale: Locale(identifier: "en_US_POSIX")))
        #expect(DecimalText.parse(Self.digits38 + "9") == nil)
        #expect(DecimalText.parse("0000" + Self.digits38) != nil, "leading zeros are not significant")
        #expect(DecimalText.parse("0.000" + Self.digits38) != nil, "nor are the fraction's leading zeros after a zero integer")
        #expect(DecimalText.parse("0.000" + Self.digits38 + "1") == nil)
        #expect(DecimalText.parse("1.000" + String(Self.digits38.dropLast(4))) != nil)
        #expect(DecimalText.parse("1.000" + String(Self.digits38.dropLast(3))) == nil, "zeros after a nonzero digit count")
        #expect(DecimalText.parse("1234567890123456789.01234567890123456789") == nil)
        #expect(DecimalText.parse("123456789012345678.90123456789012345678") != nil)
        #expect(DecimalText.parse("0.0") == 0)
        #expect(DecimalText.parse("-000") == 0)
    }

    @Test func onlyWholeLiteralsAreRead() {
        for text in ["12abc", "1,5", "NaN", ".5", "5.", "+5", "", "-", "1e", "1e1234", " 1", "1 ", "--1", "1.2.3", "0x10", "١٢"] {
            #expect(DecimalText.parse(text) == nil, "\(text)")
        }
        for (text, expected) in [("-12.50", "-12.5"), ("007.50", "7.5"), ("1e-7", "0.0000001"), ("2.5E+3", "2500"), ("101.35", "101.35")] {
            #expect(DecimalText.parse(text).map(DecimalText.plain) == expected, "\(text)")
        }
        #expect(DecimalText.parseLenient("+5") == 5)
        #expect(DecimalText.parseLenient(".5") == Decimal(string: "0.5"))
        #expect(DecimalText.parseLenient("5.") == 5)
    }

    private static let posix = Locale(identifier: "en_US_POSIX")
    private static func bytes(_ value: Decimal) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    /// `parse` and `Decimal(string:)` agree on all 20 bytes (so `==`, hashing and `description` too).
    private func expectSameAsFoundation(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let reference = Decimal(string: text, locale: Self.posix)
        let parsed = DecimalText.parse(text)
        #expect(parsed.map(Self.bytes) == reference.map(Self.bytes), "\(text)", sourceLocation: sourceLocation)
    }

    @Test func plainDigitsGiveFoundationsDecimalByteForByte() {
        for text in ["1", "100", "1.50", "0.10", "007.50", "-0.001", "101.35", "-12.50", "250000", "0.000000001",
                     "123456789012345678", "1234567890123456789", "12345678901234567.8", "999999999999999999000",
                     "0", "-0", "0.000", "-0.0", "1e2", "2.5E+3", "1e-7", Self.digits38] {
            expectSameAsFoundation(text)
        }
        // Seeded, so a failure repeats: signs, leading zeros, trailing zeros on either side of the point.
        var state: UInt64 = 0x2026_1206
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        func digits(_ count: Int) -> String { String((0..<count).map { _ in Character(String(next(10))) }) }
        for _ in 0..<20_000 {
            var text = next(2) == 0 ? "-" : ""
            // At most 18 + 17 + 3 = 38 significant digits: `parse`'s limit (longer is nil, tested above).
            text += String(repeating: "0", count: next(3)) + digits(next(19))
            if text.last == nil || text.last == "-" { text += "0" }
            if next(3) > 0 { text += "." + digits(1 + next(17)) + String(repeating: "0", count: next(4)) }
            if next(5) == 0 { text = String(next(1_000) + 1) + String(repeating: "0", count: next(21)) }
            expectSameAsFoundation(text)
        }
    }
}
