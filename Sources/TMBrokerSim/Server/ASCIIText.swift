import Foundation

/// Byte-level fast paths for the server's text handling (header names, header lines, form fields),
/// which are ASCII on every request a broker client sends.
///
/// Guarantees: each function answers exactly as the Foundation/`String` operation it stands in for
/// (named on each); on text that is not all ASCII it calls that operation itself, so only the cost
/// differs, never the answer.
enum ASCIIText {
    static func isASCII<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        bytes.allSatisfy { $0 < 0x80 }
    }

    /// `a.caseInsensitiveCompare(b) == .orderedSame`.
    static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        // Over the strings' own bytes (`withUTF8` makes a bridged string contiguous first): no iterator.
        var (a, b) = (a, b)
        let answer = a.withUTF8 { a in b.withUTF8 { b in asciiEqualsIgnoringCase(a, b) } }
        return answer ?? (a.caseInsensitiveCompare(b) == .orderedSame)
    }

    /// Both all ASCII: whether they are equal ignoring case; nil when either is not all ASCII.
    private static func asciiEqualsIgnoringCase(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard isASCII(a), isASCII(b) else { return nil }
        guard a.count == b.count else { return false }
        for i in 0..<a.count where lower(a[i]) != lower(b[i]) { return false }
        return true
    }

    @inline(__always) static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// One `name: value` header line as `(String(line[..<colon]), line[after colon...].trimmingCharacters(in: .whitespaces))`
    /// with the colon found by `firstIndex(of: ":")`; nil when the line has no colon.
    static func headerField(_ line: ArraySlice<UInt8>) -> (name: String, value: String)? {
        guard isASCII(line) else {
            let text = String(decoding: line, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { return nil }
            return (String(text[..<colon]), text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        // In ASCII, `.whitespaces` is exactly space and tab.
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        var start = colon + 1
        var end = line.endIndex
        while start < end, line[start] == 0x20 || line[start] == 0x09 { start += 1 }
        while end > start, line[end - 1] == 0x20 || line[end - 1] == 0x09 { end -= 1 }
        return (String(decoding: line[..<colon], as: UTF8.self), String(decoding: line[start..<end], as: UTF8.self))
    }

    /// `String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: true).map(String.init)`.
    static func words(_ line: ArraySlice<UInt8>) -> [String] {
        guard isASCII(line) else {
            return String(decoding: line, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        return line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true).map { String(decoding: $0, as: UTF8.self) }
    }
}
