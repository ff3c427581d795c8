import Foundation
import TMCore
import Testing

/// `trimmingWhitespace` is `trimmingCharacters(in: .whitespaces)` exactly, fast path or not.
struct WhitespaceTrimTests {
    static let samples: [String] = [
        "", " ", "\t", "  \t ", "abc", " abc", "abc ", "\tabc", "abc\t", " a b ", "a b", "a\n", "\na", "\n", " \n ",
        "\u{00A0}abc", "abc\u{00A0}", "\u{3000}x\u{3000}", "é", " é ", "éa", "aé", "a\u{301}", "\u{301}a", "x\u{2003}", "\u{2028}x",
        "12.50", " 12.50", "0f0e8b0a-6c9a-4c57-9a0b-2f3c1d6e7a81", "INFY", "buy ", "\r", "a\r", "\u{FEFF}a", "a\u{200B}",
    ]

    @Test func sameAsFoundationForEveryShape() {
        for text in Self.samples {
            #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespaces), "\(Array(text.unicodeScalars))")
            let padded = "[" + text + "]"
            let inner = padded.dropFirst().dropLast()
            #expect(inner.trimmingWhitespace() == inner.trimmingCharacters(in: .whitespaces))
        }
    }

    /// The generic form (what a `StringProtocol` context calls) agrees with the `String` and
    /// `Substring` ones, and a `String` with nothing to trim comes back equal, byte for byte.
    @Test func genericStringAndSubstringFormsAgree() {
        func generic<S: StringProtocol>(_ text: S) -> String where S.UTF8View: BidirectionalCollection { text.trimmingWhitespace() }
        for text in Self.samples {
            let expected = text.trimmingCharacters(in: .whitespaces)
            #expect(generic(text) == expected, "\(Array(text.unicodeScalars))")
            #expect(generic(text[...]) == expected)
            #expect(Array(text.trimmingWhitespace().utf8) == Array(expected.utf8))
            #expect(Array(text[...].trimmingWhitespace().utf8) == Array(expected.utf8))
        }
    }

    /// The fast path must not keep an ASCII space or tab at either end.
    @Test func asciiSpaceAndTabAtEitherEndAreTrimmed() {
        #expect(" a".trimmingWhitespace() == "a")
        #expect("a ".trimmingWhitespace() == "a")
        #expect("\ta".trimmingWhitespace() == "a")
        #expect("a\t".trimmingWhitespace() == "a")
        #expect("\u{00A0}a\u{3000}".trimmingWhitespace() == "a")
    }
}
