import Foundation
import Testing
@testable import TMAnalytics
import TMCore

@Suite struct StoreEncodingTests {
    @Test func decimalsAreWrittenAsTheirDescription() {
        let samples = ["0", "1", "-1", "0.5", "-0.000000001", "123456789.123456789", "999999999999999999.999999999",
                       "-999999999999999999.999999999", "10", "100.1", "0.01", "-42.000000010"]
        for text in samples {
            let value = FixedDecimal(text)!
            var out: [UInt8] = []
            CopyEncoding.appendDecimal(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == value.description)
        }
        for _ in 0..<2000 {
            let value = FixedDecimal(units: Int128(Int64.random(in: .min ... .max)) * Int128(Int32.random(in: -1000...1000)))
            var out: [UInt8] = []
            CopyEncoding.appendDecimal(value, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == value.description)
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
