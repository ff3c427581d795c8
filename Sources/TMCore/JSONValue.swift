/// A JSON document that keeps numbers as their original text and objects in their original order.
/// Shared by the dead-letter replay (merge patches, in TMQueue) and the broker adapters (TMBrokers).
///
/// Why not `JSONSerialization`: it turns `101.35` into a `Double`, and neither a patched order nor
/// a broker's price may be rewritten. Guarantees: `parse(text).text` equals `text`
/// up to insignificant whitespace and string-escape spelling; numbers are never converted.
/// Not `indirect`: recursion goes through arrays (references already), and an indirect enum boxes
/// every payload — an allocation per string or number built, a free per one destroyed.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number exactly as written.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order (a later duplicate key replaces the earlier one when patched).
    case object([(key: String, value: JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(text) }

    /// What kind of value this is, for error messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// Compact JSON text.
    public var text: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Indented JSON text for people (two spaces per level); numbers still exactly as written.
    public var prettyText: String {
        var out: [UInt8] = []
        writePretty(to: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `value` as a JSON string exactly as `JSONValue.string(value).text` spells it.
    public static func appendString(_ value: String, to out: inout [UInt8]) { writeString(value, to: &out) }

    // The writers build UTF-8 bytes, not a String: appending to a String one piece (or one scalar)
    // at a time cost tens of thousands of instructions per message on the order path.

    private func writePretty(to out: inout [UInt8], indent: Int) {
        func pad(_ count: Int) { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: count)) }
        let inner = indent + 2
        switch self {
        case .array(let items) where !items.isEmpty:
            out.append(contentsOf: "[\n".utf8)
            for (i, item) in items.enumerated() {
                pad(inner)
                item.writePretty(to: &out, indent: inner)
                out.append(contentsOf: (i < items.count - 1 ? ",\n" : "\n").utf8)
            }
            pad(indent)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(contentsOf: "{\n".utf8)
            for (i, member) in members.enumerated() {
                pad(inner)
                Self.writeString(member.key, to: &out)
                out.append(contentsOf: ": ".utf8)
                member.value.writePretty(to: &out, indent: inner)
                out.append(contentsOf: (i < members.count - 1 ? ",\n" : "\n").utf8)
            }
            pad(indent)
            out.append(UInt8(ascii: "}"))
        default:
            write(to: &out)
        }
    }

    private func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let literal): out.append(contentsOf: literal.utf8)
        case .string(let value): Self.writeString(value, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                member.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: `"` and `\\` escaped, `\n` `\r` `\t` by name, other controls below 0x20 as
    /// `\u00xx` (lower-case hex); every other scalar as its UTF-8 bytes. Byte by byte is scalar by
    /// scalar here: every byte of a multi-byte scalar is ≥ 0x80, so it is never mistaken for one of these.
    /// Runs of bytes that need no escape are copied whole (most strings are one run).
    private static func writeString(_ value: String, to out: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            out.append(UInt8(ascii: "\""))
            var run = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if run < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index])) }
                run = index + 1
                appendEscape(of: byte, to: &out)
            }
            if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
            out.append(UInt8(ascii: "\""))
        }
    }

    /// The escape of one byte `writeString` does not copy: a quote, a backslash or a control.
    private static func appendEscape(of byte: UInt8, to out: inout [UInt8]) {
        let hex: StaticString = "0123456789abcdef"
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
        case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
        case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
        case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
        case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
        default:
            out.append(contentsOf: "\\u00".utf8)
            out.append(hex.utf8Start[Int(byte >> 4)])
            out.append(hex.utf8Start[Int(byte & 0x0F)])
        }
    }

    // MARK: - Parsing

    /// Why a text is not JSON, with the byte offset where reading stopped.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "not valid JSON: \(reason) at byte \(offset)" }
    }

    /// Parses one JSON document. `maxDepth` bounds nesting so a hostile payload cannot overflow
    /// the stack; a caller on a thread with a small stack (broker-sim's connections) passes less.
    public static func parse(_ text: String, maxDepth: Int = 512) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try read($0, maxDepth: maxDepth, building: true) }
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 512) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { try read($0, maxDepth: maxDepth, building: true) }
    }

    /// `parse` over bytes the caller holds (a response body), without copying them into an array first.
    public static func parse(utf8 bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) throws -> JSONValue {
        try read(bytes.assumingMemoryBound(to: UInt8.self), maxDepth: maxDepth, building: true)
    }

    /// Checks that `bytes` is one JSON document exactly as `parse` would (same strictness, same
    /// `ParseError` reason and offset) without building the tree: no allocation per value, for
    /// callers that only need the verdict (the queue producer's payload check).
    public static func validate(_ bytes: [UInt8], maxDepth: Int = 512) throws {
        _ = try bytes.withUnsafeBufferPointer { try read($0, maxDepth: maxDepth, building: false) }
    }

    private static func read(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, building: Bool) throws(ParseError) -> JSONValue {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth, building: building)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.position == bytes.count else { throw parser.fail("unexpected text after the document") }
        return value
    }
}

/// One reader for both `parse` and `validate`: with `building` false it walks the same grammar
/// but keeps nothing (every value reads as `.null`). It reads the caller's bytes in place; a
/// string without escapes becomes a String straight from its bytes, one with escapes is built
/// in one byte buffer (every escape appends its scalar's UTF-8, so the bytes around it decode
/// exactly as they would on their own).
private struct Parser {
    typealias ParseError = JSONValue.ParseError
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    let building: Bool
    var position = 0
    /// The escaped string being built (kept between strings: its capacity is reused).
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int, building: Bool) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.building = building
    }

    func fail(_ reason: String) -> ParseError { ParseError(offset: position, reason: reason) }

    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        while position < bytes.count {
            let byte = bytes[position]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    mutating func expect(_ literal: StaticString, _ value: JSONValue) throws(ParseError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw fail("unexpected character") }
        for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] { throw fail("unexpected character") }
        position += count
        return value
    }

    mutating func value(depth: Int) throws(ParseError) -> JSONValue {
        // Bounded nesting: a hostile payload must not overflow the stack.
        guard depth < maxDepth else { throw fail("nested too deeply") }
        guard let byte = current else { throw fail("unexpected end of text") }
        switch byte {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            skipSpace()
            if current == UInt8(ascii: "}") { position += 1; return .object(members) }
            if building { members.reserveCapacity(8) }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw fail("expected a member name in quotes") }
                let key = try string()
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':' after a member name") }
                position += 1
                skipSpace()
                let member = try value(depth: depth + 1)
                if building { members.append((key, member)) }
                skipSpace()
                if current == UInt8(ascii: ",") { position += 1; continue }
                if current == UInt8(ascii: "}") { position += 1; return .object(members) }
                throw fail("expected ',' or '}' in an object")
            }
        case UInt8(ascii: "["):
            position += 1
            var items: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipSpace()
                let item = try value(depth: depth + 1)
                if building { items.append(item) }
                skipSpace()
                if current == UInt8(ascii: ",") { position += 1; continue }
                if current == UInt8(ascii: "]") { position += 1; return .array(items) }
                throw fail("expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    mutating func digits() -> Int {
        let start = position
        while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") { position += 1 }
        return position - start
    }

    mutating func number() throws(ParseError) -> String {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else {
            guard digits() > 0 else { throw fail("expected a digit") }
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw fail("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw fail("expected a digit in the exponent") }
        }
        return building ? text(start..<position) : ""
    }

    /// The bytes as a String (invalid UTF-8 becomes U+FFFD, as `String(decoding:)` does).
    func text(_ range: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }

    /// Four hexadecimal digits (either case), nothing else: no sign, no space.
    mutating func hex4() throws(ParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw fail("expected four hex digits after \\u") }
        var value: UInt32 = 0
        for offset in 0..<4 {
            guard let digit = HexDigit.value(bytes[position + offset]) else { throw fail("expected four hex digits after \\u") }
            value = value << 4 | UInt32(digit)
        }
        position += 4
        return value
    }

    mutating func string() throws(ParseError) -> String {
        position += 1  // opening quote
        let start = position
        // The common case: no escape before the closing quote.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return building ? text(start..<(position - 1)) : ""
            }
            if byte < 0x20 { throw fail("control character in a string") }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            position += 1
        }
        throw fail("unterminated string")
    }

    /// The rest of a string that has an escape at `position` (its content began at `start`).
    mutating func escapedString(from start: Int) throws(ParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        var run = start
        while true {
            guard let byte = current else { throw fail("unterminated string") }
            if byte == UInt8(ascii: "\"") {
                keep(run..<position)
                position += 1
                return building ? String(decoding: scratch, as: UTF8.self) : ""
            }
            if byte < 0x20 { throw fail("control character in a string") }
            if byte != UInt8(ascii: "\\") { position += 1; continue }
            keep(run..<position)
            position += 1
            guard let escape = current else { throw fail("unterminated escape") }
            position += 1
            let scalar: Unicode.Scalar
            switch escape {
            case UInt8(ascii: "\""): scalar = "\""
            case UInt8(ascii: "\\"): scalar = "\\"
            case UInt8(ascii: "/"): scalar = "/"
            case UInt8(ascii: "b"): scalar = "\u{08}"
            case UInt8(ascii: "f"): scalar = "\u{0C}"
            case UInt8(ascii: "n"): scalar = "\n"
            case UInt8(ascii: "r"): scalar = "\r"
            case UInt8(ascii: "t"): scalar = "\t"
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), current == UInt8(ascii: "\\"),
                   position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") {
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                // A lone surrogate cannot be represented in a Swift string: use U+FFFD.
                scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
            default: throw fail("invalid escape")
            }
            if building { UTF8.encode(scalar) { scratch.append($0) } }
            run = position
        }
    }

    /// Copies a run of the string's bytes that holds no escape into `scratch`.
    mutating func keep(_ run: Range<Int>) {
        if building, !run.isEmpty { scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run])) }
    }
}
