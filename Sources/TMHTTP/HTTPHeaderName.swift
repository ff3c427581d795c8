import Foundation

/// Header names compared as HTTP compares them: case-insensitively.
enum HTTPHeaderName {
    /// Exactly `a.caseInsensitiveCompare(b) == .orderedSame`, without Foundation when both names
    /// are ASCII (every valid header name is: RFC 9110 tokens), where ASCII case folding is the
    /// whole of it; any other pair goes to Foundation as before.
    static func same(_ a: String, _ b: String) -> Bool {
        var left = a.utf8.makeIterator(), right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil):
                return true
            case (let x?, let y?) where x < 0x80 && y < 0x80:
                if x != y && lowered(x) != lowered(y) { return false }
            case (let x?, let y?) where x >= 0x80 || y >= 0x80:
                return a.caseInsensitiveCompare(b) == .orderedSame
            default:
                // One ended first; the rest of the other may still be non-ASCII, which Foundation
                // could fold to nothing (e.g. a lone combining mark): let it decide then.
                return a.utf8.allSatisfy { $0 < 0x80 } && b.utf8.allSatisfy { $0 < 0x80 } ? false
                    : a.caseInsensitiveCompare(b) == .orderedSame
            }
        }
    }

    private static func lowered(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }
}
