import Testing
import TMPostgres

/// A statement's parameters share one buffer (`withParameters`: pointers, types, then the values
/// NUL-terminated): each must reach the server whole and in its place, whatever its neighbours —
/// NULLs (no bytes), empty text, multi-byte text, and values past the ~1 KB a temporary buffer
/// keeps on the stack.
@Suite struct ParameterBufferTests {
    @Test(arguments: [0, 700, 5_000])
    func mixedParametersArriveEachWholeAndInPlace(repeats: Int) throws {
        let conn = try TestServer.connect()
        let long = String(repeating: "é", count: repeats) + "end"
        let none: String? = nil
        let row = try conn.query("""
            SELECT \(none)::text IS NULL AS first_null, \("")::text AS empty, \("ß→€")::text AS multibyte,
                   \(long)::text AS long, \(none)::text IS NULL AS second_null, \(-42)::int AS number, \(long + "!")::text AS longer
            """)[0]
        #expect(try row.decode("first_null", as: Bool.self))
        #expect(try row.decode("empty", as: String.self) == "")
        #expect(try row.decode("multibyte", as: String.self) == "ß→€")
        #expect(try row.decode("long", as: String.self) == long)
        #expect(try row.decode("second_null", as: Bool.self))
        #expect(try row.decode("number", as: Int.self) == -42)
        #expect(try row.decode("longer", as: String.self) == long + "!")
    }
}
