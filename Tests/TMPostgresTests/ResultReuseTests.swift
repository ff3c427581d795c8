import Foundation
import Testing
@testable import TMPostgres

/// What a connection reuses between statements (session 34): a result's column set (its name index)
/// is shared only by results whose columns are equal — the same names, in the same order, of the
/// same types — and a prepared statement only by the same SQL bytes and parameter types, however
/// alike two texts are where the key is hashed.
@Suite struct ResultReuseTests {
    /// Decodes `a` and `b` by name from the query's one row.
    func ab(_ conn: PostgresConnection, _ sql: String) throws -> (a: String, b: String, types: [PostgresDataType]) {
        let row = try #require(try conn.query(PostgresQuery(unsafeSQL: sql)).rows.first)
        return (try row.decode("a", as: String.self), try row.decode("b", as: String.self), row.columns.map(\.type))
    }

    @Test func aResultSharesAColumnSetOnlyWithEqualColumns() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        // The same columns again and again: one set built, each result reads its own values.
        let built = conn.columnSets
        for n in 0..<10 {
            let row = try #require(try conn.query(PostgresQuery(unsafeSQL: "SELECT \(n) AS a, 'x\(n)'::text AS b")).rows.first)
            #expect(try row.decode("a", as: Int.self) == n)
            #expect(try row.decode("b", as: String.self) == "x\(n)")
        }
        #expect(conn.columnSets == built + 1)
        // The same names in the other order: its own index.
        let swapped = try ab(conn, "SELECT 'B'::text AS b, 'A'::text AS a")
        #expect(swapped.a == "A" && swapped.b == "B")
        let straight = try ab(conn, "SELECT 'A'::text AS a, 'B'::text AS b")
        #expect(straight.a == "A" && straight.b == "B")
        // The same names and order, another type: the row's columns say which.
        #expect(try ab(conn, "SELECT 1::int4 AS a, 'B'::text AS b").types == [.int4, .text])
        #expect(try ab(conn, "SELECT 'A'::text AS a, 'B'::text AS b").types == [.text, .text])
        #expect(try ab(conn, "SELECT 1::int8 AS a, 'B'::text AS b").types == [.int8, .text])
        // A repeated name: the first column of it, also when a set of other names is shared.
        for _ in 0..<2 {
            let row = try #require(try conn.query(PostgresQuery(unsafeSQL: "SELECT 1 AS a, 2 AS a, 3 AS b")).rows.first)
            #expect(try row.decode("a", as: Int.self) == 1)
            #expect(try row.decode("b", as: Int.self) == 3)
        }
        // No columns (a command): nothing built.
        let beforeCommand = conn.columnSets
        try conn.query(PostgresQuery(unsafeSQL: "SET application_name = 'result_reuse'"))
        #expect(conn.columnSets == beforeCommand)
    }

    /// More distinct column lists than are kept: the oldest is built again when it comes back, every
    /// result still read by its own names; the recent ones are shared.
    @Test func theRecentSetsAreBoundedAndTheOldestBuiltAgain() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        func run(_ k: Int) throws {
            let row = try #require(try conn.query(PostgresQuery(unsafeSQL: "SELECT \(k) AS c\(k), \(k + 1) AS d")).rows.first)
            #expect(try row.decode("c\(k)", as: Int.self) == k)
            #expect(try row.decode("d", as: Int.self) == k + 1)
        }
        let limit = RecentColumnSets.limit
        let start = conn.columnSets
        for k in 0...limit { try run(k) }
        #expect(conn.columnSets == start + limit + 1)
        try run(limit)      // recent: shared
        try run(1)          // among the last `limit`: shared
        #expect(conn.columnSets == start + limit + 1)
        try run(0)          // the oldest, dropped: built again
        #expect(conn.columnSets == start + limit + 2)
        try run(1)          // used above, so moved to the front: not the one `run(0)` dropped
        #expect(conn.columnSets == start + limit + 2)
    }

    /// Names equal as `String`s but not in bytes (NFC `é`, and `e` + U+0301): two sets, each result's
    /// rows reporting its own name bytes.
    @Test func namesOfOtherBytesAreAnotherSet() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let built = conn.columnSets
        for name in ["\u{00E9}", "e\u{0301}", "\u{00E9}"] {
            let result = try conn.query(PostgresQuery(unsafeSQL: "SELECT 1 AS \"\(name)\""))
            #expect(Array(result.columns[0].name.utf8) == Array(name.utf8))
            #expect(Array(try #require(result.rows.first).columnNames[0].utf8) == Array(name.utf8))
        }
        #expect(conn.columnSets == built + 2)
    }

    /// Names of the same byte count that differ in one byte — at the start, in the middle, at the
    /// end, short (inline) and long (heap) texts, ASCII and not — are other sets, each result read
    /// by its own names; the same names again share the first set.
    @Test func namesOfTheSameLengthDifferingInOneByteAreAnotherSet() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let names = ["ab", "ac", "bb", "column_name_longer_than_inline_1", "column_name_longer_than_inline_2",
                     "xolumn_name_longer_than_inline_1", "column_name_lonher_than_inline_1", "\u{00E9}t\u{00E9}", "\u{00E9}t\u{00E8}"]
        let built = conn.columnSets
        for round in 0..<2 {
            for (n, name) in names.enumerated() {
                let result = try conn.query(PostgresQuery(unsafeSQL: "SELECT \(n) AS \"\(name)\""))
                let row = try #require(result.rows.first)
                #expect(Array(row.columnNames[0].utf8) == Array(name.utf8))
                #expect(try row.decode(name, as: Int.self) == n, "\(name), round \(round)")
            }
        }
        #expect(conn.columnSets == built + names.count)
        #expect(RecentColumnSets.sameBytes("", ""))
        #expect(!RecentColumnSets.sameBytes("", "a"))
        #expect(RecentColumnSets.sameBytes(String(repeating: "q", count: 40), String(repeating: "q", count: 40)))
        #expect(!RecentColumnSets.sameBytes("\u{00E9}", "e\u{0301}"))
    }

    /// Two long texts alike in every byte the key hashes (its start, middle and end) but not in
    /// between: two statements, each returning its own value; each prepared once.
    @Test func textsAlikeWhereHashedAreTwoStatements() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let filler = String(repeating: "y", count: 400)
        func sql(_ mark: Character) -> String {
            var middle = Array(filler)
            middle[100] = mark
            return "SELECT '\(String(middle))' AS v, $1::int AS n"
        }
        let texts = [sql("p"), sql("q"), sql("r")]
        let keys = texts.map { PostgresConnection.PreparedKey(sql: $0, types: [PostgresDataType.int4.rawValue]) }
        #expect(Set(keys.map(\.hashValue)).count == 1, "the texts should differ only where the key does not hash")
        let prepared = conn.preparedCount
        for round in 0..<3 {
            for (i, text) in texts.enumerated() {
                let row = try #require(try conn.query(PostgresQuery(unsafeSQL: text, binds: [PostgresData(round)]).prepared).rows.first)
                #expect(try row.decode("v", as: String.self) == String(text.dropFirst(8).prefix(400)), "text \(i)")
                #expect(try row.decode("n", as: Int.self) == round)
            }
        }
        #expect(conn.preparedCount == prepared + 3)
    }

    /// The key's equality and hash agree: equal keys hash alike (short texts hashed whole, long ones
    /// by windows, non-ASCII, empty); texts differing in one byte anywhere, or in types, are unequal.
    @Test func preparedKeysEqualExactlyByBytesAndTypes() {
        typealias Key = PostgresConnection.PreparedKey
        let base = String(repeating: "abcdefgh", count: 40) + "₹ ünï"
        for text in ["", "SELECT 1", String(base.prefix(192)), String(base.prefix(193)), base] {
            let a = Key(sql: text, types: [23]), b = Key(sql: String(decoding: Array(text.utf8), as: UTF8.self), types: [23])
            #expect(a == b && a.hashValue == b.hashValue)
            #expect(a != Key(sql: text, types: [25]) && a != Key(sql: text, types: []))
            var bytes = Array(text.utf8)
            for index in [0, bytes.count / 3, bytes.count - 1] where !bytes.isEmpty && bytes[index] < 0x80 {
                bytes[index] ^= 0x01
                #expect(a != Key(sql: String(decoding: bytes, as: UTF8.self), types: [23]), "byte \(index) of \(text.utf8.count)")
                bytes[index] ^= 0x01
            }
            #expect(a != Key(sql: text + " ", types: [23]))
        }
    }
}
