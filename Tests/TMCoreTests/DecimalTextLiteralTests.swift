import Foundation
import TMCore
import Testing

/// `DecimalText.parse` checks the literal on the string's bytes: a whole literal only, at most 38
/// significant digits (leading zeros of the integer and the fraction not counted), exactly.
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
}
