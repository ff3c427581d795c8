import Foundation
import TMCore
import Testing

/// The byte-building JSON writer and the locale-free decimal text give exactly what the String
/// writer and `NSDecimalString` gave.
struct TextWritersTests {
    /// The writer as it was (one String, one scalar at a time): the reference.
    static func reference(_ value: JSONValue) -> String {
        func string(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let literal): return literal
        case .string(let text): return string(text)
        case .array(let items): return "[" + items.map(reference).joined(separator: ",") + "]"
        case .object(let members): return "{" + members.map { string($0.key) + ":" + reference($0.value) }.joined(separator: ",") + "}"
        }
    }

    static let strings: [String] = [
        "", "plain", "quote\"d", "back\\slash", "line\nfeed", "cr\r", "tab\t", "\u{0}\u{1}\u{1F}\u{7F}", "é日本\u{1F600}", "\u{2028}\u{FEFF}",
        "mixed \"é\"\n\\\u{8}",
    ]

    static var values: [JSONValue] {
        var values: [JSONValue] = [.null, .bool(true), .bool(false), .number("-12.50e3"), .array([]), .object([])]
        values += strings.map { .string($0) }
        values.append(.object(strings.enumerated().map { (key: $0.element, value: .number("\($0.offset)")) }))
        values.append(.array([.object([(key: "a", value: .array([.null, .string("x\ny")]))]), .object([]), .array([.bool(true)])]))
        return values
    }

    @Test func compactTextIsTheStringWritersByteForByte() throws {
        for value in Self.values {
            #expect(value.text == Self.reference(value))
            #expect(try JSONValue.parse(Array(value.text.utf8)) == value)
        }
    }

    @Test func prettyTextIndentsTwoSpacesPerLevel() {
        let value: JSONValue = .object([(key: "a", value: .array([.number("1"), .object([(key: "b\n", value: .null)])])), (key: "e", value: .object([]))])
        #expect(value.prettyText == "{\n  \"a\": [\n    1,\n    {\n      \"b\\n\": null\n    }\n  ],\n  \"e\": {}\n}")
        #expect(JSONValue.array([]).prettyText == "[]")
    }

    @Test func plainDecimalTextIsNSDecimalStringInPOSIX() {
        let posix = Locale(identifier: "en_US_POSIX")
        var decimals = ["0", "-0", "1", "1.50", "1500.05", "0.000000001", "12345678901234.12345678", "1e3", "1E-7", "007.50", "-2.5",
                        "99999999999999999999999999999999999999", "1e20", "-1e-30", "123.456e2"].compactMap { Decimal(string: $0, locale: posix) }
        decimals += decimals.map { $0 * Decimal(string: "1.25")! + 1 } + decimals.map { $0 / 7 } + [.nan]
        for value in decimals {
            var copy = value
            #expect(DecimalText.plain(value) == NSDecimalString(&copy, posix))
        }
    }
}
