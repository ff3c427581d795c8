import Foundation

/// A SQL statement with its bind parameters.
///
/// Guarantees: in a string literal every interpolated value becomes a bind parameter (`$1`, `$2`, ...),
/// so `"SELECT * FROM users WHERE email = \(email)"` is safe by construction; only literal text and
/// `\(identifier:)` (quoted by the rules of Postgres identifiers) reach the SQL text. The one way to
/// splice arbitrary text is the explicitly named `init(unsafeSQL:binds:)`.
public struct PostgresQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var sql: String
    public private(set) var binds: [PostgresData]
    /// Parsed and planned once per session, then run by name (`prepared`): for statements whose text
    /// does not vary (values are all binds) and that run often. Their parameter types are fixed by
    /// the first use; a different set of types gets a statement of its own.
    public private(set) var isPrepared = false

    /// This query, kept prepared on each session that runs it (see `isPrepared`).
    public var prepared: PostgresQuery {
        var query = self
        query.isPrepared = true
        return query
    }

    /// Raw SQL, for migration files and the rare dynamic identifier. Placeholders `$1...` in `unsafeSQL`
    /// refer to `binds` in order; `nil` is an untyped NULL.
    public init(unsafeSQL: String, binds: [PostgresData?] = []) {
        self.sql = unsafeSQL
        self.binds = binds.map { $0 ?? .null }
    }

    /// The same with values none of which is nil: kept as they are. Passing `[PostgresData]` to
    /// `[PostgresData?]` converts the array element by element (a dynamic cast each, ~290
    /// instructions) and the map copies it again: ~8k instructions for a lone order's statement.
    public init(unsafeSQL: String, binds: [PostgresData]) {
        self.sql = unsafeSQL
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// Shows the SQL and the parameters' types, never their values.
    public var description: String {
        binds.isEmpty ? sql : "\(sql) [binds: \(binds.map { $0.type.description }.joined(separator: ", "))]"
    }

    /// Builds the SQL text and the bind list together, so placeholders and values cannot drift apart.
    public struct StringInterpolation: StringInterpolationProtocol {
        public var sql: String
        public var binds: [PostgresData]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// A value: becomes the next `$n` placeholder. Optional values bind NULL when nil.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            binds.append(value.postgresData())
            sql += "$\(binds.count)"
        }

        /// An optional value: NULL (typed as `T`) when nil. Spelled out so optionals need no casts.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            binds.append(value.postgresData())
            sql += "$\(binds.count)"
        }

        /// A table or column name chosen at run time, quoted as a Postgres identifier (`"a""b"`).
        public mutating func appendInterpolation(identifier: String) {
            sql += PostgresQuery.quoteIdentifier(identifier)
        }

        /// Another query, spliced in with its placeholders renumbered after the current ones.
        public mutating func appendInterpolation(fragment: PostgresQuery) {
            sql += PostgresQuery.renumber(fragment.sql, offset: binds.count)
            binds += fragment.binds
        }
    }

    /// Quotes an identifier: wraps it in double quotes and doubles any embedded quote; a NUL byte
    /// (which Postgres cannot store) is dropped so the result stays a single identifier.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\0", with: "").replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Shifts `$n` placeholders by `offset`, leaving string literals, quoted identifiers, comments and
    /// dollar-quoted bodies alone.
    static func renumber(_ sql: String, offset: Int) -> String {
        // No `$`: no placeholder and no dollar quote to skip (a column list, say), nothing to do.
        guard offset > 0, sql.utf8.contains(UInt8(ascii: "$")) else { return sql }
        var sql = sql
        return sql.withUTF8 { renumber($0, offset: offset) }
    }

    /// `renumber` over the UTF-8 bytes: every delimiter is ASCII, so the text between placeholders is
    /// copied whole and multi-byte characters are never split.
    private static func renumber(_ text: UnsafeBufferPointer<UInt8>, offset: Int) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 8)
        var copiedUpTo = 0  // text before this index is in `out`
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                // Skip the quoted run; doubled quotes simply re-enter the loop as a new run.
                i += 1
                while i < text.count, text[i] != c { i += 1 }
                if i < text.count { i += 1 }
            } else if c == UInt8(ascii: "-"), i + 1 < text.count, text[i + 1] == UInt8(ascii: "-") {
                while i < text.count, text[i] != UInt8(ascii: "\n") { i += 1 }
            } else if c == UInt8(ascii: "$"), i + 1 < text.count, isDigit(text[i + 1]) {
                var j = i + 1
                var number = 0
                while j < text.count, isDigit(text[j]) {
                    number = number * 10 + Int(text[j] - UInt8(ascii: "0"))
                    j += 1
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: text[copiedUpTo..<i]))
                out.append(contentsOf: "$\(number + offset)".utf8)
                copiedUpTo = j
                i = j
            } else if c == UInt8(ascii: "$") {
                // Dollar quote $tag$ ... $tag$: skip it whole (an unclosed one runs to the end).
                var j = i + 1
                while j < text.count, isDollarTagByte(text[j]) { j += 1 }
                if j < text.count, text[j] == UInt8(ascii: "$") {
                    let tag = UnsafeBufferPointer(rebasing: text[i...j])
                    i = firstEnd(of: tag, in: text, from: j + 1) ?? text.count
                } else {
                    i += 1
                }
            } else {
                i += 1
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: text[copiedUpTo...]))
        return String(decoding: out, as: UTF8.self)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// A letter, digit or `_`; any byte of a multi-byte character counts as a letter, as in Postgres.
    private static func isDollarTagByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: "_") || byte >= 0x80
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
    }

    /// The index just past the first `tag` in `text` at or after `start`, if any.
    private static func firstEnd(of tag: UnsafeBufferPointer<UInt8>, in text: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var k = start
        while k + tag.count <= text.count {
            if text[k] == tag[0], memcmp(text.baseAddress! + k, tag.baseAddress!, tag.count) == 0 { return k + tag.count }
            k += 1
        }
        return nil
    }
}
