/// A forward cursor over bytes, for the hand-written readers of hot wire formats (the invocation
/// request line, a price tick): JSON's white space, one expected byte, a literal, a plain whole
/// number and a plain ASCII string. One piece both readers use, so they read these the same way.
///
/// Guarantees: a read that succeeds consumes exactly what it read; one that fails returns
/// false/nil and leaves `position` somewhere at or after where it was (the readers then give up on
/// the whole input and hand it to a generic JSON reader, so where does not matter); no read goes
/// past the end. `@inlinable`: the readers run once per tick and per record, across modules.
public struct ByteCursor {
    public let bytes: UnsafeBufferPointer<UInt8>
    public var position: Int

    @inlinable
    public init(_ bytes: UnsafeBufferPointer<UInt8>, position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    @inlinable
    public var isAtEnd: Bool { position == bytes.count }

    /// Skips JSON white space (space, line feed, carriage return, tab).
    @inlinable
    public mutating func skipSpace() {
        while position < bytes.count, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 {
            position += 1
        }
    }

    /// Takes `byte` if it is next.
    @inlinable
    public mutating func next(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Takes the ASCII `text` (e.g. `null`) if it comes next, whole.
    @inlinable
    public mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        let start = text.utf8Start
        for offset in 0..<count where bytes[position + offset] != start[offset] { return false }
        position += count
        return true
    }

    /// A whole number written plainly: (`-` when `allowingMinus`) digits, no leading zero (a lone
    /// `0` is fine), not followed by `.`, `e` or `E`, that fits an Int64; nil for anything else.
    @inlinable
    public mutating func wholeNumber(allowingMinus: Bool) -> Int64? {
        var negative = false
        if allowingMinus, next(UInt8(ascii: "-")) { negative = true }
        let start = position
        var value: Int64 = 0
        while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(bytes[position] - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
            position += 1
        }
        let digits = position - start
        guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") || bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            return nil
        }
        return negative ? -value : value
    }

    /// A `"…"` string of printable ASCII without escapes: the range of its content (nil for any
    /// other string: a backslash, a control or non-ASCII byte, no closing quote).
    @inlinable
    public mutating func plainASCIIString() -> Range<Int>? {
        guard next(UInt8(ascii: "\"")) else { return nil }
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return start..<(position - 1)
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { return nil }
            position += 1
        }
        return nil
    }
}
