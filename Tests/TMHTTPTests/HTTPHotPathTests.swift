import Foundation
@testable import TMHTTP
import TestSupport
import Testing

/// The request and response code on every broker call does without Foundation's string machinery
/// where it can, with the same results as before.
struct HTTPHotPathTests {
    /// The encoder as it was (a set of unreserved bytes, one Character at a time): the reference.
    static func referencePercentEncode(_ string: String) -> String {
        let unreserved = Set(Array(UInt8(ascii: "a")...UInt8(ascii: "z")) + Array(UInt8(ascii: "A")...UInt8(ascii: "Z"))
            + Array(UInt8(ascii: "0")...UInt8(ascii: "9")) + [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~")])
        var out = ""
        for byte in string.utf8 {
            if unreserved.contains(byte) { out.append(Character(UnicodeScalar(byte))) } else { out += String(format: "%%%02X", byte) }
        }
        return out
    }

    @Test func percentEncodingMatchesTheReferenceForEveryByte() {
        var samples = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        samples += ["", "INFY", "a b", "é+=", "日本", "x~-._y", "100.50", "tag/child-1", "%41", "\u{1F600}"]
        for text in samples {
            #expect(HTTPRequest.percentEncode(text) == Self.referencePercentEncode(text), "\(Array(text.utf8))")
        }
        let fields = [("a", "1"), ("b", "x y"), ("", ""), ("é", "&=?")]
        #expect(HTTPRequest.formEncode(fields) == fields.map { "\(Self.referencePercentEncode($0.0))=\(Self.referencePercentEncode($0.1))" }
            .joined(separator: "&"))
        #expect(HTTPRequest.formEncode([]) == "")
        #expect(HTTPRequest.Body.form(fields).encoded?.data == Data(HTTPRequest.formEncode(fields).utf8))
    }

    /// Runs of unreserved bytes copied whole between escapes: escapes first, last, side by side,
    /// alone, runs of one byte and long ones, non-ASCII inside runs; and random mixes.
    @Test func percentEncodingOfRunsBetweenEscapesMatchesTheReference() {
        var samples = [" a", "a ", " ", "  ", "a b c", "ab  cd", "%%", "abc%", "%abc", "a%b%c%d", "é", "aé", "éa", "aéb", "日本abc日本",
                       String(repeating: "x", count: 300) + " " + String(repeating: "y", count: 300), "2026-12-07T16:00:00+05:30",
                       "tm:{orders.3}:dedup/ä", "\u{0}a\u{0}"]
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aZ09-._~ %&=+/?#é日\u{1F600}\u{0}\n")
        for _ in 0..<500 {
            samples.append(String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        for text in samples {
            #expect(HTTPRequest.percentEncode(text) == Self.referencePercentEncode(text), "\(Array(text.utf8))")
            var appended: [UInt8] = [0x41]
            HTTPRequest.appendPercentEncoded(text, to: &appended)
            #expect(appended == [0x41] + Array(Self.referencePercentEncode(text).utf8), "\(Array(text.utf8))")
        }
    }

    @Test func headerNamesCompareAsFoundationDoes() {
        let names = ["Content-Type", "content-type", "CONTENT-TYPE", "Content-Typ", "Content-Types", "Expect", "expect", "X", "x", "",
                     "Retry-After", "retry-after", "Straße", "STRASSE", "strasse", "Kelvin\u{212A}", "kelvink", "e\u{301}", "\u{E9}", "a\u{301}b"]
        for a in names {
            for b in names {
                #expect(HTTPHeaderName.same(a, b) == (a.caseInsensitiveCompare(b) == .orderedSame), "\(a) vs \(b)")
            }
        }
    }

    @Test func schemeCheckIsCaseInsensitiveAndOnlyHTTP() {
        for url in ["http://h/", "https://h/", "HTTP://h", "HtTpS://h", "http://", "https:/", "ftp://h", "httpx://h", "", "h", " http://h",
                    "http:\\\\h", "https://\u{301}h", "http://é"] {
            #expect(HTTPClient.hasHTTPScheme(url) == (url.lowercased().hasPrefix("http://") || url.lowercased().hasPrefix("https://")), "\(url)")
        }
    }

    @Test func responseHeaderValuesAreTrimmedAndLineEndsDropped() throws {
        let server = try TestHTTPServer { _ in
            .respond(status: 200, headers: [("X-Padded", "  spaced\t"), ("X-Plain", "v"), ("X-Inner", "a  b")])
        }
        defer { server.stop() }
        let response = try HTTPClient(configuration: HTTPClient.Configuration(timeout: .seconds(5), connectTimeout: .seconds(2), proxy: .none))
            .send(HTTPRequest(.get, server.baseURL + "/"))
        #expect(response.header("x-padded") == "spaced")
        #expect(response.header("X-PLAIN") == "v")
        #expect(response.header("x-inner") == "a  b")
        #expect(!response.headers.contains { $0.name.hasPrefix("HTTP/") || $0.value.hasSuffix("\r") || $0.value.hasSuffix("\n") })
    }
}
