import Testing
import TMCore

/// The byte cursor the hand-written wire readers share (the invocation request line, price ticks).
@Suite struct ByteCursorTests {
    /// Runs `read` on a cursor over `text`; the result and where the cursor stopped.
    func read<T>(_ text: String, _ read: (inout ByteCursor) -> T) -> (T, Int) {
        Array(text.utf8).withUnsafeBufferPointer { buffer in
            var cursor = ByteCursor(buffer)
            let value = read(&cursor)
            return (value, cursor.position)
        }
    }

    @Test func wholeNumbersArePlainAndFit() {
        let cases: [(String, Bool, Int64?)] = [
            ("0", false, 0), ("7,", false, 7), ("1234567890}", false, 1_234_567_890), ("9223372036854775807", false, .max),
            ("9223372036854775808", false, nil), ("01", false, nil), ("00", false, nil), ("", false, nil), ("x", false, nil),
            ("1.5", false, nil), ("1e3", false, nil), ("1E3", false, nil), ("-5", false, nil),
            ("-5", true, -5), ("-0", true, 0), ("-", true, nil), ("-01", true, nil), (" 5", false, nil),
        ]
        for (text, minus, expected) in cases {
            #expect(read(text) { $0.wholeNumber(allowingMinus: minus) }.0 == expected, "\(text) (minus \(minus))")
        }
        #expect(read("42,") { $0.wholeNumber(allowingMinus: false) }.1 == 2, "consumes exactly the digits")
    }

    @Test func spaceBytesLiteralsAndPlainStrings() {
        #expect(read(" \n\r\t{") { c -> Bool in c.skipSpace(); return c.next(UInt8(ascii: "{")) && c.isAtEnd } == (true, 5))
        #expect(read("x") { $0.next(UInt8(ascii: "y")) } == (false, 0))
        #expect(read("") { $0.next(UInt8(ascii: "y")) } == (false, 0))
        #expect(read("null,") { $0.literal("null") } == (true, 4))
        #expect(read("nul") { $0.literal("null") } == (false, 0))
        #expect(read("nulL") { $0.literal("null") }.0 == false)
        #expect(read(#""INFY":"#) { $0.plainASCIIString() } == (1..<5, 6))
        #expect(read(#""""#) { $0.plainASCIIString() } == (1..<1, 2))
        for refused in [#""a\"b""#, "\"caf\u{E9}\"", "\"a\u{1}b\"", #""open"#, "x"] {
            #expect(read(refused) { $0.plainASCIIString() }.0 == nil, "\(refused)")
        }
    }
}
