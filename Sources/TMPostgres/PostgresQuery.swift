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
        var out = ""
        let chars = Array(sql)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" || c == "\"" {
                // Copy the quoted run; doubled quotes simply re-enter the loop as a new run.
                out.append(c)
                i += 1
                while i < chars.count, chars[i] != c { out.append(chars[i]); i += 1 }
                if i < chars.count { out.append(chars[i]); i += 1 }
            } else if c == "-", i + 1 < chars.count, chars[i + 1] == "-" {
                while i < chars.count, chars[i] != "\n" { out.append(chars[i]); i += 1 }
            } else if c == "$", i + 1 < chars.count, chars[i + 1].isNumber {
                var j = i + 1
                var digits = ""
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { digits.append(chars[j]); j += 1 }
                out += "$\(Int(digits)! + offset)"
                i = j
            } else if c == "$" {
                // Dollar quote $tag$ ... $tag$: copy it verbatim.
                var j = i + 1
                while j < chars.count, chars[j] != "$", chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                if j < chars.count, chars[j] == "$" {
                    let tag = String(chars[i...j])
                    out += tag
                    i = j + 1
                    let rest = String(chars[i...])
                    if let end = rest.range(of: tag) {
                        out += rest[..<end.upperBound]
                        i += rest.distance(from: rest.startIndex, to: end.upperBound)
                    } else {
                        out += rest
                        i = chars.count
                    }
                } else {
                    out.append(c)
                    i += 1
                }
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }
}
