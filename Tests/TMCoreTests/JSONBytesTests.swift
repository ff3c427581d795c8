import Foundation
import TMCore
import Testing

/// The JSON reader over bytes in place and the run-copying string writer: values, escapes,
/// surrogates, numbers kept as written, nesting bounds and every refusal with its reason and offset.
@Suite struct JSONBytesTests {
    static func parseError(_ text: String, maxDepth: Int = 512) -> JSONValue.ParseError? {
        do {
            _ = try JSONValue.parse(Array(text.utf8), maxDepth: maxDepth)
            return nil
        } catch {
            return error as? JSONValue.ParseError
        }
    }

    static func parseError(bytes: [UInt8]) -> JSONValue.ParseError? {
        do {
            _ = try JSONValue.parse(bytes)
            return nil
        } catch {
            return error as? JSONValue.ParseError
        }
    }

    static let values: [JSONValue] = [
        .null, true, false, .number("0"), .number("-0"), .number("-0.0E-0"), .number("101.35000"), .number("1e400"),
        .number("-123456789012345678901234567890.123456789012345678901234567890"), .number("9223372036854775808"),
        .number("4.9406564584124654E-324"), .string(""), .string("plain"), .string("\"\\/"),
        .string(String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) })), .string("\u{7F}é日本\u{1F600}\u{2028}\u{FEFF}"),
        .string("\u{1}lead"), .string("trail\u{1F}"), .string("\"\"\"\""), .string(String(repeating: "long run ", count: 200) + "\n"),
        [], [:], [[[]]], ["a": ["b": [1, "two", nil, true]], "": "empty key", "a\u{0}b": .number("3.0")],
        .object([(key: "dup", value: 1), (key: "dup", value: 2)]),
    ]

    @Test func roundTripsKeepEveryValueAndNumberText() throws {
        for value in Self.values {
            let text = value.text
            #expect(try JSONValue.parse(text) == value, "\(text)")
            #expect(try JSONValue.parse(Array(text.utf8)).text == text)
            let fromBuffer = try Array(text.utf8).withUnsafeBytes { try JSONValue.parse(utf8: $0) }
            #expect(fromBuffer == value)
            #expect(try JSONValue.parse(value.prettyText) == value)
        }
    }

    @Test func writerMatchesTheReferenceWriterByteForByte() {
        var strings = TextWritersTests.strings
        for byte in UInt8(0)..<0x80 {
            let scalar = String(Character(Unicode.Scalar(byte)))
            strings += [scalar, "a" + scalar, scalar + "b", "x" + scalar + "y" + scalar + scalar]
        }
        for text in strings {
            let value = JSONValue.string(text)
            #expect(value.text == TextWritersTests.reference(value), "\(Array(text.utf8))")
            let object = JSONValue.object([(key: text, value: value)])
            #expect(object.text == TextWritersTests.reference(object))
        }
    }

    @Test func escapesDecodeToTheirScalars() throws {
        let text = #""\"\\\/\b\f\n\r\t\u0041\u00e9\u65E5\ud83d\ude00 end""#
        #expect(try JSONValue.parse(text) == .string("\"\\/\u{8}\u{C}\n\r\tAé日\u{1F600} end"))
        #expect(try JSONValue.parse(#"["a\nb","\u0000"]"#) == ["a\nb", .string("\u{0}")])
        #expect(try JSONValue.parse(#"{"k\u0031":"v"}"#) == ["k1": "v"])
    }

    @Test func surrogatesPairOrBecomeReplacementCharacters() throws {
        #expect(try JSONValue.parse(#""\uD83D\uDE00""#) == .string("\u{1F600}"))
        #expect(try JSONValue.parse(#""\ud800""#) == .string("\u{FFFD}"))
        #expect(try JSONValue.parse(#""\udc00x""#) == .string("\u{FFFD}x"))
        #expect(try JSONValue.parse(#""\ud800\n""#) == .string("\u{FFFD}\n"))
        let error = Self.parseError(#""\ud800\u0041""#)
        #expect(error?.reason == "invalid surrogate pair")
        #expect(error?.offset == 13)
    }

    @Test func invalidUTF8DecodesAsStringDecodingDoes() throws {
        // A truncated three-byte sequence, alone and beside an escape.
        #expect(try JSONValue.parse([0x22, 0xE2, 0x82, 0x22]) == .string("\u{FFFD}"))
        #expect(try JSONValue.parse([0x22, 0xE2, 0x5C, 0x6E, 0xE2, 0x82, 0x22]) == .string("\u{FFFD}\n\u{FFFD}"))
        #expect(try JSONValue.parse([0x22, 0xFF, 0x41, 0x22]) == .string("\u{FFFD}A"))
    }

    @Test func refusalsSayWhyAndWhere() {
        let cases: [(String, String, Int)] = [
            ("", "unexpected end of text", 0), ("   ", "unexpected end of text", 3), ("{", "expected a member name in quotes", 1),
            ("[1 2]", "expected ',' or ']' in an array", 3), (#"{"a" 1}"#, "expected ':' after a member name", 5),
            (#"{"a":1 "b":2}"#, "expected ',' or '}' in an object", 7), (#"{"a":1,}"#, "expected a member name in quotes", 7),
            ("[1,]", "unexpected character", 3), ("tru", "unexpected character", 0), ("nul", "unexpected character", 0),
            ("trUe", "unexpected character", 0), ("01", "unexpected text after the document", 1), ("-", "expected a digit", 1),
            ("-a", "expected a digit", 1), ("1.", "expected a digit after '.'", 2), ("1e", "expected a digit in the exponent", 2),
            ("1e+", "expected a digit in the exponent", 3), (#""abc"#, "unterminated string", 4), ("\"a\u{01}b\"", "control character in a string", 2),
            ("\"a\\n\u{1F}\"", "control character in a string", 4), ("\"a\\", "unterminated escape", 3), (#""\x""#, "invalid escape", 3),
            (#""\u12""#, "expected four hex digits after \\u", 3), (#""\u12g4""#, "expected four hex digits after \\u", 3),
            (#""\u+041""#, "expected four hex digits after \\u", 3), (#""\u-000""#, "expected four hex digits after \\u", 3),
            (#""\u 041""#, "expected four hex digits after \\u", 3), (#""a\u"#, "expected four hex digits after \\u", 4),
            ("{}x", "unexpected text after the document", 2), ("NaN", "unexpected character", 0), ("'a'", "unexpected character", 0),
        ]
        for (text, reason, offset) in cases {
            let error = Self.parseError(text)
            #expect(error?.reason == reason, "\(text)")
            #expect(error?.offset == offset, "\(text)")
            var validated: JSONValue.ParseError?
            do { try JSONValue.validate(Array(text.utf8)) } catch { validated = error as? JSONValue.ParseError }
            #expect(validated?.reason == reason && validated?.offset == offset, "\(text)")
        }
    }

    @Test func nestingIsBoundedAtMaxDepth() throws {
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        var value = try JSONValue.parse(deepest)
        var levels = 1
        while case .array(let items) = value, let first = items.first {
            levels += 1
            value = first
        }
        #expect(levels == 512)
        #expect(value == [])
        let tooDeep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(Self.parseError(tooDeep)?.reason == "nested too deeply")
        #expect(Self.parseError(tooDeep)?.offset == 512)
        let objects = String(repeating: #"{"a":"#, count: 4) + "1" + String(repeating: "}", count: 4)
        #expect(Self.parseError(objects, maxDepth: 4)?.offset == 20)
        #expect(Self.parseError(objects, maxDepth: 5) == nil)
    }

    @Test func whiteSpaceAroundEverythingIsInsignificant() throws {
        let text = " \t\r\n{ \"a\" :\n[ 1 ,\t\"x\" , { } , [ ] ] , \"b\" : null }\n "
        #expect(try JSONValue.parse(text) == ["a": [1, "x", [:], []], "b": nil])
        #expect(try JSONValue.parse(text).text == #"{"a":[1,"x",{},[]],"b":null}"#)
    }
}
