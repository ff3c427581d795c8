import Foundation
import TMCore
import Testing

/// The order path's fixed-point decimal: exact in, exact out, never a silent rounding or a trap.
@Suite struct FixedDecimalTests {
    @Test(arguments: ["0", "1", "-1", "1500.05", "0.000000001", "-0.38962051", "4.000001", "12345678901234.123456789", "999999999999999999"])
    func parsesAndPrintsExactly(_ text: String) throws {
        let value = try #require(FixedDecimal(text))
        #expect(value.description == text)
        #expect(value.decimal == DecimalText.parse(text)!)
        #expect(FixedDecimal(exactly: DecimalText.parse(text)!) == value)
    }

    @Test func normalisesEquivalentForms() {
        #expect(FixedDecimal("1.50")?.description == "1.5")
        #expect(FixedDecimal("007.0")?.description == "7")
        #expect(FixedDecimal("1e-7")?.description == "0.0000001")
        #expect(FixedDecimal("1.5E3")?.description == "1500")
        #expect(FixedDecimal("0.1000000000000")?.description == "0.1")
    }

    @Test(arguments: ["", "-", ".5", "5.", "1,5", "12abc", "NaN", "0.0000000001", "1e-10", "1000000000000000000", "1e18", "--1", "1e"])
    func refusesWhatItCannotHoldExactly(_ text: String) {
        #expect(FixedDecimal(text) == nil)
    }

    @Test func arithmeticIsExactAndProductsRoundAwayFromZero() {
        let a = FixedDecimal("0.1")!, b = FixedDecimal("0.2")!
        #expect(a + b == FixedDecimal("0.3")!)
        #expect(FixedDecimal("1500.05")! * 10 == FixedDecimal("15000.5")!)
        #expect(FixedDecimal("0.000000001")! * FixedDecimal("0.5")! == FixedDecimal("0.000000001")!)
        #expect(FixedDecimal("-0.000000001")! * FixedDecimal("0.5")! == FixedDecimal("-0.000000001")!)
        #expect(FixedDecimal("1.000000001")! * FixedDecimal("1.000000001")! == FixedDecimal("1.000000003")!)
        #expect((FixedDecimal("3")! - FixedDecimal("5")!).magnitude == 2)
    }

    @Test func saturatesInsteadOfTrapping() {
        let big = FixedDecimal("999999999999999999")!
        #expect(big * big == .max)
        #expect(big * -big < FixedDecimal("-999999999999999999")!)
        #expect(FixedDecimal.max + big == .max)
    }

    @Test func lotsTicksAndPlaces() {
        #expect(FixedDecimal("1500.05")!.isMultiple(of: FixedDecimal("0.05")!))
        #expect(!FixedDecimal("1500.03")!.isMultiple(of: FixedDecimal("0.05")!))
        #expect(!FixedDecimal("1")!.isMultiple(of: .zero))
        #expect(FixedDecimal("1.25")!.fits(places: 2))
        #expect(!FixedDecimal("1.255")!.fits(places: 2))
        #expect(FixedDecimal("3")!.fits(places: 0))
    }
}
