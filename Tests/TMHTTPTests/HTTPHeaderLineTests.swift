import Foundation
import TMHTTP
import Testing

/// A response header line read on its bytes gives exactly what the text reading gave, for ASCII
/// and non-ASCII lines alike.
@Suite struct HTTPHeaderLineTests {
    /// The reading as it was (a String per line, Characters, Foundation's trim): the reference.
    static func reference(_ bytes: [UInt8], afterHeader: Bool) -> HTTPHeaderLine {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        let line = String(decoding: bytes[..<end], as: UTF8.self)
        if line.hasPrefix("HTTP/") { return .statusLine }
        if line.isEmpty { return .blank }
        if let first = line.first, first == " " || first == "\t", afterHeader {
            return .continuation(line.trimmingCharacters(in: .whitespaces))
        }
        guard let colon = line.firstIndex(of: ":") else { return .ignored }
        return .field(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    static func read(_ text: String, afterHeader: Bool) -> HTTPHeaderLine {
        Array(text.utf8).withUnsafeBytes { HTTPHeaderLine.read($0, afterHeader: afterHeader) }
    }

    static let lines: [String] = [
        "HTTP/1.1 200 OK\r\n", "HTTP/2 100\r\n", "\r\n", "\n", "", "Content-Type: application/json\r\n", "X-Kite-Version:3\r\n",
        "Empty:\r\n", "Empty: \t \r\n", "Spaced :  value with  inner  spaces \t\r\n", "a:b:c\r\n", ":no name\r\n", "no colon at all\r\n",
        " folded continuation \r\n", "\tfolded tab\r\n", "  \r\n", "Trailing-CR: v\r\r\n", "Inner-CR: a\rb\r\n", "http/1.1 lower\r\n",
        "HTTP\r\n", "X: \u{00A0}nbsp both\u{00A0}\r\n", "X: \u{2003}em\u{2003} \r\n", "X: é\r\n", "Ü: v\r\n", " \u{301}accent after space\r\n",
        "X:\u{301} combining after colon\r\n", "HTTP/\u{301}1.1 200\r\n", "\u{00A0}nbsp first: v\r\n", "X: \u{3000}ideographic\u{3000}\r\n",
        "Set-Cookie: a=1; Path=/\r\n", "X: tail space \r\n",
    ]

    @Test func everyLineReadsAsTheTextReadingReadIt() {
        for text in Self.lines {
            for afterHeader in [false, true] {
                #expect(Self.read(text, afterHeader: afterHeader) == Self.reference(Array(text.utf8), afterHeader: afterHeader),
                        "\(Array(text.utf8)) afterHeader \(afterHeader)")
            }
        }
    }

    @Test func everyASCIIByteInEveryPlaceReadsAsBefore() {
        for byte in UInt8(0)..<0x80 {
            let c = String(Character(Unicode.Scalar(byte)))
            for text in [c + "N: v\r\n", "N" + c + ": v\r\n", "N:" + c + "v\r\n", "N: v" + c + "\r\n", "N: v" + c, c + "\r\n"] {
                for afterHeader in [false, true] {
                    #expect(Self.read(text, afterHeader: afterHeader) == Self.reference(Array(text.utf8), afterHeader: afterHeader),
                            "\(Array(text.utf8))")
                }
            }
        }
    }

    @Test func theUsualLinesReadAsExpected() {
        #expect(Self.read("Content-Type:  application/json \r\n", afterHeader: false) == .field(name: "Content-Type", value: "application/json"))
        #expect(Self.read("HTTP/1.1 100 Continue\r\n", afterHeader: true) == .statusLine)
        #expect(Self.read("\r\n", afterHeader: true) == .blank)
        #expect(Self.read("\t more\r\n", afterHeader: true) == .continuation("more"))
        #expect(Self.read("\t more: x\r\n", afterHeader: false) == .field(name: "\t more", value: "x"))
        #expect(Self.read("X: \u{00A0}v\u{00A0}\r\n", afterHeader: false) == .field(name: "X", value: "v"))
        #expect(Self.read("garbage\r\n", afterHeader: false) == .ignored)
    }
}
