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
        WhitespaceEnds.trimmed(self) ?? String(self)
    }
}

extension String {
    /// The same for a `String`, chosen over the generic one wherever the type is known: that one
    /// runs unspecialized from other modules (protocol witnesses for `utf8`, `first`, `last`
    /// and a generic `String(self)` copy, ~830 instructions a field of an order message, session
    /// 35); this one returns the string itself when there is nothing to trim.
    public func trimmingWhitespace() -> String {
        WhitespaceEnds.trimmed(self) ?? self
    }
}

extension Substring {
    /// The same for a `Substring` (header lines are read as slices).
    public func trimmingWhitespace() -> String {
        WhitespaceEnds.trimmed(self) ?? String(self)
    }
}

enum WhitespaceEnds {
    /// The trimmed text, or nil when there is nothing to trim: the first and the last byte are
    /// ASCII other than space and tab (a non-ASCII end scalar may be a Unicode space: Foundation
    /// decides). Specialized for each caller above (same module).
    @inline(__always)
    static func trimmed<S: StringProtocol>(_ text: S) -> String? where S.UTF8View: BidirectionalCollection {
        let bytes = text.utf8
        guard let first = bytes.first, let last = bytes.last else { return "" }
        if cannotTrim(first, last) { return nil }
        return text.trimmingCharacters(in: .whitespaces)
    }

    static func cannotTrim(_ first: UInt8, _ last: UInt8) -> Bool {
        first < 0x80 && last < 0x80 && first != 0x20 && first != 0x09 && last != 0x20 && last != 0x09
    }
}
