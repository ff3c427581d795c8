import Foundation
import Testing
@testable import TMAnalytics
import TMCore

@Suite struct StoreEncodingTests {
    /// The plain way (String arithmetic), as a reference for the byte formatter.
    static func reference(_ units: Int128) -> String {
        let magnitude = units.magnitude
        var text = (units < 0 ? "-" : "") + String(magnitude / 1_000_000_000)
        var fraction = String(magnitude % 1_000_000_000)
        if fraction != "0" {
            fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text
    }

    @Test func decimalsAreWrittenExactly() {
        var samples = ["0", "1", "-1", "0.5", "-0.000000001", "123456789.123456789", "999999999999999999.999999999",
                       "-999999999999999999.999999999", "10", "100.1", "0.01", "-42.000000010"].map { FixedDecimal($0)! }
        samples += [FixedDecimal.max, FixedDecimal(units: .min), FixedDecimal(units: -1)]
        for _ in 0..<2000 {
            samples.append(FixedDecimal(units: Int128(Int64.random(in: .min ... .max)) * Int128(Int32.random(in: -1000...1000))))
        }
        for value in samples {
            var out: [UInt8] = []
            value.write(to: &out)
            #expect(String(decoding: out, as: UTF8.self) == Self.reference(value.units))
            #expect(value.description == Self.reference(value.units))
        }
    }

    @Test func jsonIsJSONValueTextWithCopysBackslashesDoubled() {
        let value = JSONValue.object([("a\"b", .string("x\\y\n\t\r\u{1}\u{1f} é ✓")), ("n", .number("1.50")),
                                      ("list", .array([.null, .bool(true), .bool(false), .object([]), .array([])]))])
        var out: [UInt8] = []
        CopyEncoding.appendJSON(value, to: &out)
        // COPY text format: undo its escapes (only backslashes appear) and compare with JSONValue.text.
        var unescaped: [UInt8] = []
        var i = 0
        while i < out.count {
            if out[i] == UInt8(ascii: "\\") { i += 1 }
            unescaped.append(out[i])
            i += 1
        }
        #expect(!out.contains(UInt8(ascii: "\n")) && !out.contains(UInt8(ascii: "\t")))
        #expect(String(decoding: unescaped, as: UTF8.self) == value.text)
    }
}
