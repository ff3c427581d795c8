import Foundation
import Testing
import TMPostgres

/// `PostgresRow.decode` is inlined into its callers (session 35): from another module — this one —
/// a decode still reads the cell of its column, NULL included, and a refusal is still the error it
/// was — a decoding failure named by column and type (the conformer's reason after it), a
/// conformer's `PostgresError` as it is, any other error by its description, an index out of range.
@Suite struct DecodeRefusalTests {
    /// A conformer that refuses with the error it is given.
    struct Refusing: PostgresDecodable {
        nonisolated(unsafe) static var error: any Error = PostgresDecodingFailure("refused")
        static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Refusing { throw error }
    }
    struct Other: Error, CustomStringConvertible { var description: String { "other's words" } }

    func refusal(_ body: () throws -> Any) -> PostgresError? {
        do { _ = try body(); return nil } catch { return error as? PostgresError }
    }

    @Test(.serialized, arguments: [0, 1])
    func cellsAndRefusalsAsBefore(_ round: Int) throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        let row = try #require(try conn.query(PostgresQuery(unsafeSQL: "SELECT NULL::int4 AS a, 'x'::text AS b, 5::int4 AS c")).rows.first)
        #expect(try row.decode("c", as: Int.self) == 5)
        #expect(try row.decode(2, as: Int32.self) == 5)
        #expect(try row.decode("a", as: Int?.self) == nil)
        #expect(try row.decode("b", as: String.self) == "x")

        let null = try #require(refusal { try row.decode("a", as: Int.self) })
        #expect(null.kind == .decoding && null.column == "a")
        #expect(null.message == "column 'a' as Int: value is NULL; decode as Int? to accept NULL")

        var reason = ""
        do { _ = try Int.decodePostgres(ArraySlice("x".utf8), type: .text) } catch let failure as PostgresDecodingFailure { reason = failure.reason }
        #expect(!reason.isEmpty)
        let text = try #require(refusal { try row.decode("b", as: Int.self) })
        #expect(text.kind == .decoding && text.column == "b" && text.message == "column 'b' as Int: \(reason)")

        Refusing.error = PostgresDecodingFailure("refused")
        let failure = try #require(refusal { try row.decode("b", as: Refusing.self) })
        #expect(failure.message == "column 'b' as Refusing: refused" && failure.column == "b")

        Refusing.error = PostgresError(kind: .client, message: "as it is", column: "elsewhere")
        let passed = try #require(refusal { try row.decode("b", as: Refusing.self) })
        #expect(passed.kind == .client && passed.message == "as it is" && passed.column == "elsewhere")

        Refusing.error = Other()
        let other = try #require(refusal { try row.decode("c", as: Refusing.self) })
        #expect(other.kind == .decoding && other.message == "column 'c' as Refusing: other's words" && other.column == "c")

        let range = try #require(refusal { try row.decode(3, as: Int.self) })
        #expect(range.kind == .decoding && range.message == "column index 3 out of range 0..<3")
        let negative = try #require(refusal { try row.decode(-1, as: Int?.self) })
        #expect(negative.message == "column index -1 out of range 0..<3")
    }
}
