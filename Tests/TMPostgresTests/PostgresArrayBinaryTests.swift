import Foundation
import Testing
import TMCore
@testable import TMPostgres

/// Array parameters in binary format (`PostgresArrayBinary`, session 33) are the same values as the
/// text format gives, on the server: for each type, elements that are hard in text (quotes,
/// backslashes, commas, braces, the word NULL, empty strings, non-ASCII, JSON with escapes, the
/// extreme integers) and NULLs — the whole array compared with the text one (`IS NOT DISTINCT FROM`),
/// element for element, with its NULL flag and bounds — through a prepared statement and a pipeline
/// (the order path's two ways), and an empty array.
@Suite struct PostgresArrayBinaryTests {
    static let texts: [String?] = ["plain", "with \"quotes\"", "back\\slash", "a,b", "{braces}", " spaced ", "NULL", "", nil,
                                   "ünïcode ₹", "tab\tnew\nline", String(repeating: "x", count: 5000)]
    static let jsons: [String?] = [#"{"a": "q\"uote", "b": [1, 2.50, null], "c": {"d": "\\u20b9 ₹"}}"#, nil, "[]", "\"s\"", "1.000", "null",
                                   #"{"passed": true, "notional": "1500", "checked_at": "2026-12-07T13:28:39.692Z"}"#]
    static let ids: [UUID?] = [UUID(), nil, UUID(uuidString: "00000000-0000-0000-0000-000000000000")!,
                               UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")!, UUID(uuidString: "982c0528-4555-46ab-8070-7a3af9aab3f7")!]
    static let bigs: [Int64?] = [0, 1, -1, nil, .max, .min, 1_500]
    static let ints: [Int32?] = [0, -1, nil, .max, .min, 7]
    static let flags: [Bool?] = [true, false, nil, true]

    /// The pairs (binary, text) of every type with its SQL array type.
    static func pairs() -> [(binary: PostgresData, text: PostgresData, type: String)] {
        [(.binaryArray(text: texts), .array(texts), "text[]"), (.binaryArray(jsonb: jsons), .array(jsons), "jsonb[]"),
         (.binaryArray(ids), .array(ids), "uuid[]"), (.binaryArray(bigs), .array(bigs), "bigint[]"),
         (.binaryArray(ints), .array(ints), "integer[]"), (.binaryArray(flags), .array(flags), "boolean[]")]
    }

    func compare(_ conn: PostgresConnection, _ binary: PostgresData, _ text: PostgresData, _ type: String, pipelined: Bool,
                 prepared: Bool = true) throws {
        #expect(binary.type.isBinary && !text.type.isBinary)
        let statement = PostgresQuery(unsafeSQL: """
            SELECT a IS NOT DISTINCT FROM b AS same, array_dims(a) AS dims, array_position(a, NULL) AS null_at,
                   (SELECT bool_and(x IS NOT DISTINCT FROM y) FROM unnest(a, b) AS u (x, y)) AS each_same,
                   array_to_string(a, '|', '<NULL>') AS shown
            FROM (SELECT $1::\(type) AS a, $2::\(type) AS b) s
            """, binds: [binary, text])
        let sql = prepared ? statement.prepared : statement
        let result: PostgresResult
        if pipelined {
            var sent: PostgresResult?
            try conn.transaction { db in try db.send(sql, reading: { sent = $0 }) }
            result = try #require(sent)
        } else {
            result = try conn.query(sql)
        }
        let row = try #require(result.rows.first)
        let shown = try row.decode("shown", as: String?.self) ?? "NULL"
        #expect(try row.decode("same", as: Bool.self), "\(type): \(shown)")
        #expect(try row.decode("each_same", as: Bool?.self) != false, "\(type)")
        let texts = try conn.query(PostgresQuery(unsafeSQL: "SELECT array_dims($1::\(type)) AS dims, array_position($1::\(type), NULL) AS null_at",
                                                 binds: [text])).rows[0]
        #expect(try row.decode("dims", as: String?.self) == texts.decode("dims", as: String?.self), "\(type)")
        #expect(try row.decode("null_at", as: Int?.self) == texts.decode("null_at", as: Int?.self), "\(type)")
    }

    @Test func everyTypeIsTheSameArrayAsItsText() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        for (binary, text, type) in Self.pairs() {
            try compare(conn, binary, text, type, pipelined: false)
            try compare(conn, binary, text, type, pipelined: true)
            // Unprepared in a pipeline is libpq's other call (`PQsendQueryParams`): its formats too.
            try compare(conn, binary, text, type, pipelined: true, prepared: false)
        }
    }

    /// A text-format parameter is a C string: one holding a NUL would reach the server cut short, so
    /// it is refused before anything is sent — alone, and beside binary parameters (whose bytes may
    /// hold NULs). The server refuses a NUL inside a binary text element itself (22021).
    @Test func aTextParameterWithANulIsRefusedBeforeItIsSent() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let nul = "a\u{0}b"
        for binds in [[PostgresData(nul)], [PostgresData(nul), .binaryArray(text: ["x"])],
                      [.binaryArray(text: ["x"]), PostgresData(nul)]] {
            let sql = PostgresQuery(unsafeSQL: binds.count == 1 ? "SELECT $1::text AS t" : "SELECT $1::text || $2::text AS t", binds: binds)
            for statement in [sql, sql.prepared] {
                do {
                    let got = try conn.query(statement).rows.first?.decode("t", as: String?.self)
                    Issue.record("a NUL text parameter was sent; the server read \(String(describing: got))")
                } catch let error as PostgresError {
                    #expect(error.kind == .client, "\(error)")
                }
            }
        }
        #expect(try conn.query("SELECT 1 AS one").scalar(as: Int.self) == 1, "the connection is still usable")
    }

    @Test func emptyAndAllNullArrays() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        for (binary, text, type) in [(PostgresData.binaryArray(text: []), PostgresData.array([String]()), "text[]"),
                                     (.binaryArray([UUID?]()), .array([UUID]()), "uuid[]"),
                                     (.binaryArray(jsonb: [nil, nil]), .array([String?.none, nil]), "jsonb[]"),
                                     (.binaryArray([Int64?.none]), .array([Int64?.none]), "bigint[]")] {
            try compare(conn, binary, text, type, pipelined: false)
            let cardinality = try conn.query(PostgresQuery(unsafeSQL: "SELECT cardinality($1::\(type)) AS n", binds: [binary])).scalar(as: Int.self)
            #expect(cardinality == (binary.bytes.map { Int($0[15]) } ?? -1), "\(type)")
        }
    }

    /// The layout itself: `array_send`'s bytes for a small array, as the server sends them back.
    @Test func theBytesAreArraySendsLayout() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let values: [Int32?] = [1, nil, -2]
        let sent = try conn.query("SELECT encode(array_send(ARRAY[1, NULL, -2]::integer[]), 'hex') AS hex").scalar(as: String.self)
        let ours = PostgresData.binaryArray(values).bytes!.map { String(format: "%02x", $0) }.joined()
        #expect(ours == sent)
    }
}
