import Foundation
import Testing
@testable import TMPostgres

@Suite struct TimestampBytesTests {
    /// A timestamp is read from its cell's bytes (session 34: no `String` or array per value) with
    /// the verdicts and messages it had: values in the middle of a result's cells, every accepted
    /// shape, and each refusal with its reason.
    @Test func timestampsAreReadFromTheirBytesAsFromTheirText() throws {
        let conn = try TestServer.connect()
        defer { conn.close() }
        try conn.query("SET TIME ZONE 'Asia/Kolkata'")
        let row = try #require(try conn.query("""
            SELECT 'x'::text AS pad, '2024-03-15 10:20:30.123456+05:30'::timestamptz AS t1, NULL::timestamptz AS t2,
                   '1969-12-31 23:59:59.999999+00'::timestamptz AS t3, '2024-02-29'::date AS d, 'y'::text AS tail
            """).rows.first)
        #expect(try row.decode("t1", as: Date.self) == PostgresTimestamp.date(microseconds: 1_710_478_230_123_456))
        #expect(try row.decode("t2", as: Date?.self) == nil)
        #expect(try row.decode("t3", as: Date.self) == PostgresTimestamp.date(microseconds: -1))
        #expect(try row.decode("d", as: Date.self) == PostgresTimestamp.date(microseconds: 1_709_164_800_000_000))
        func decode(_ text: String, offset: Int = 3) throws -> Date {
            let bytes = Array("pad".utf8.prefix(offset)) + Array(text.utf8) + Array("end".utf8)
            return try Date.decodePostgres(bytes[offset..<(offset + text.utf8.count)], type: .timestamptz)
        }
        func refusal(_ text: String) -> String {
            do { _ = try decode(text); return "accepted" } catch { return "\(error)" }
        }
        let accepted: [(String, Int64)] = [
            ("1970-01-01 00:00:00+00", 0), ("2024-03-15T04:50:30Z", 1_710_478_230_000_000),
            ("2024-03-15 01:20:30.12-03:30", 1_710_478_230_120_000), ("1850-01-01 05:53:28+05:53:28", -3_786_825_600_000_000),
            ("2024-03-15 04:50:30.1234567+00", 1_710_478_230_123_456), ("12345-01-01 00:00:00+00", 327_403_382_400_000_000),
        ]
        for (text, micros) in accepted {
            #expect(try decode(text) == PostgresTimestamp.date(microseconds: micros), "\(text)")
            #expect(try decode(text, offset: 0) == PostgresTimestamp.date(microseconds: micros), "\(text)")
        }
        let iso = "is not an ISO timestamp (DateStyle must be ISO)"
        #expect(refusal("infinity") == "infinity (timestamptz) cannot be represented as Date")
        #expect(refusal("-infinity") == "-infinity (timestamptz) cannot be represented as Date")
        #expect(refusal("infinityx") == "'infinityx' (timestamptz) \(iso)")
        #expect(refusal("0044-03-15 00:00:00+00 BC") == "'0044-03-15 00:00:00+00 BC' (timestamptz) is a BC date, which is not supported")
        #expect(refusal("2024/03/15") == "'2024/03/15' (timestamptz) \(iso)")
        #expect(refusal("2024-03-15 10.20.30") == "'2024-03-15 10.20.30' (timestamptz) \(iso)")
        #expect(refusal("2024-13-15") == "'2024-13-15' (timestamptz) \(iso)")
        #expect(refusal("2024-03-15 10:20:30+") == "'2024-03-15 10:20:30+' (timestamptz) \(iso)")
        #expect(refusal("") == "'' (timestamptz) \(iso)")
        #expect(refusal("２０２４-03-15") == "'２０２４-03-15' (timestamptz) \(iso)")
        #expect(refusal(String(repeating: "9", count: 50)) == "'\(String(repeating: "9", count: 40))' (timestamptz) \(iso)")
        // Past Int64's microseconds (Postgres stores up to 294276 AD; the text allows 9-digit years):
        // refused, not a trap. The last instant that fits, 294247-01-10 04:00:54.775807, is read.
        #expect(refusal("294276-12-31 23:59:59+00") == "'294276-12-31 23:59:59+00' (timestamptz) cannot be represented as Date")
        #expect(refusal("999999999-01-01 00:00:00+00") == "'999999999-01-01 00:00:00+00' (timestamptz) cannot be represented as Date")
        #expect(refusal("294247-01-10 04:00:54.775807+00") == "accepted")
        #expect(refusal("294247-01-10 04:00:54.775807-00:01") == "'294247-01-10 04:00:54.775807-00:01' (timestamptz) cannot be represented as Date")
        let latest = try #require(try TestServer.connect().query("SELECT '294276-12-31 23:59:59+00'::timestamptz AS t").rows.first)
        do { _ = try latest.decode("t", as: Date.self); Issue.record("294276 AD read as a Date") } catch {
            #expect("\(error)".contains("'294276-12-31 23:59:59+00' (timestamptz) cannot be represented as Date"))
        }
        // A byte that is not UTF-8: refused, the message's text repaired as `String(decoding:)` does.
        let broken: [UInt8] = Array("2024-03-15".utf8) + [0xFF]
        #expect(throws: PostgresDecodingFailure.self) { try Date.decodePostgres(broken[...], type: .timestamptz) }
        do { _ = try Date.decodePostgres(broken[...], type: .timestamptz) } catch {
            #expect("\(error)" == "'2024-03-15\u{FFFD}' (timestamptz) \(iso)")
        }
    }
}
