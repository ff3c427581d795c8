import Foundation

extension StringProtocol where UTF8View: BidirectionalCollection {
    /// Exactly `trimmingCharacters(in: .whitespaces)` (Unicode space separators and tab), without
    /// Foundation's `CharacterSet` work when neither end can be whitespace.
    ///
    /// Why: hot parsers (order messages, HTTP response headers) trim every field, and almost no
    /// field has anything to trim. When the first and the last byte are ASCII other than space and
    /// tab, neither end scalar is whitespace, so the text comes back as it is; otherwise (an ASCII
    /// space or tab, or a non-ASCII scalar at an end) Foundation decides, as before.
    public func trimmingWhitespace() -> String {
        let bytes = utf8
        guard let first = bytes.first, let last = bytes.last else { return "" }
        if first < 0x80, last < 0x80, first != 0x20, first != 0x09, last != 0x20, last != 0x09 { return String(self) }
        return trimmingCharacters(in: .whitespaces)
    }
}
