import Foundation
import TMCore

/// One line of a response's header block as libcurl hands it over (line ending included), read
/// into what it means for the response's headers.
///
/// Guarantees: the same reading as the text rules it replaced, for every input — trailing CR/LF
/// dropped; a line starting `HTTP/` is a status line (a new response: earlier headers are
/// dropped); an empty line is the end of the block; a line starting with a space or tab after a
/// header is that header's continuation (trimmed); otherwise the name is the text before the
/// first `:` and the value the rest trimmed of white space (`trimmingWhitespace`); a line without
/// `:` is ignored. An all-ASCII line (every real header line) is read on its bytes without a
/// `String` per step; any other line is read as text, as before, since Characters and Unicode
/// white space then matter.
public enum HTTPHeaderLine: Equatable, Sendable {
    case statusLine
    case blank
    /// To append to the previous header's value after a space (obsolete line folding).
    case continuation(String)
    case field(name: String, value: String)
    /// A line without a colon.
    case ignored

    /// The line `bytes` (ending included); `afterHeader`: a header was read before it in this response.
    public static func read(_ bytes: UnsafeRawBufferPointer, afterHeader: Bool) -> HTTPHeaderLine {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        let line = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        guard line.allSatisfy({ $0 < 0x80 }) else { return read(text: String(decoding: line, as: UTF8.self), afterHeader: afterHeader) }
        if line.starts(with: "HTTP/".utf8) { return .statusLine }
        guard let first = line.first else { return .blank }
        if (first == 0x20 || first == 0x09) && afterHeader { return .continuation(trimmedASCII(line, from: 0)) }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return .ignored }
        return .field(name: String(decoding: UnsafeRawBufferPointer(rebasing: line[..<colon]), as: UTF8.self),
                      value: trimmedASCII(line, from: colon + 1))
    }

    /// ASCII text from `start` without leading and trailing spaces and tabs: for ASCII that is
    /// exactly what `trimmingWhitespace` removes.
    private static func trimmedASCII(_ line: UnsafeRawBufferPointer, from start: Int) -> String {
        var lower = start, upper = line.count
        while lower < upper, line[lower] == 0x20 || line[lower] == 0x09 { lower += 1 }
        while upper > lower, line[upper - 1] == 0x20 || line[upper - 1] == 0x09 { upper -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: line[lower..<upper]), as: UTF8.self)
    }

    /// The reading of a line with non-ASCII text, on Characters.
    private static func read(text line: String, afterHeader: Bool) -> HTTPHeaderLine {
        if line.hasPrefix("HTTP/") { return .statusLine }
        if line.isEmpty { return .blank }
        if let first = line.first, first == " " || first == "\t", afterHeader { return .continuation(line.trimmingWhitespace()) }
        guard let colon = line.firstIndex(of: ":") else { return .ignored }
        return .field(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingWhitespace())
    }
}
