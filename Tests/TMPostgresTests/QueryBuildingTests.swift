import Foundation
import Testing
@testable import TMPostgres

@Suite struct QueryBuildingTests {
    @Test func interpolationBindsEveryValue() {
        let email = "a'b@example.com"
        let limit = 10
        let missing: Int? = nil
        let q: PostgresQuery = "SELECT * FROM users WHERE email = \(email) AND age > \(limit) OR x = \(missing)"
        #expect(q.sql == "SELECT * FROM users WHERE email = $1 AND age > $2 OR x = $3")
        #expect(q.binds.count == 3)
        #expect(q.binds[0].bytes == Array(email.utf8))
        #expect(q.binds[1].type == .int8)
        #expect(q.binds[2].bytes == nil)
        #expect(q.binds[2].type == .int8)  // typed NULL
        #expect(!q.description.contains("example.com"))
    }

    @Test func identifiersAreQuoted() {
        let table = "we\"ird; DROP TABLE x"
        let q: PostgresQuery = "SELECT * FROM \(identifier: table) WHERE id = \(1)"
        #expect(q.sql == "SELECT * FROM \"we\"\"ird; DROP TABLE x\" WHERE id = $1")
    }

    @Test func fragmentsAreRenumbered() {
        let filter: PostgresQuery = "status = \("open") AND note <> '$1' AND body <> $tag$ $2 $tag$ AND qty > \(5)"
        let q: PostgresQuery = "SELECT * FROM orders WHERE account = \(42) AND \(fragment: filter) LIMIT \(3)"
        #expect(q.sql == "SELECT * FROM orders WHERE account = $1 AND status = $2 AND note <> '$1' AND body <> $tag$ $2 $tag$ AND qty > $3 LIMIT $4")
        #expect(q.binds.count == 4)
    }

    @Test func unsafeSQLKeepsBinds() {
        let q = PostgresQuery(unsafeSQL: "INSERT INTO t VALUES ($1, $2)", binds: [PostgresData("x"), nil])
        #expect(q.binds.count == 2)
        #expect(q.binds[1] == .null)
    }

    @Test(arguments: [
        "12345678901234.12345678", "-0.00000001", "0", "123456789012345678901234567890",
        "-98765432109876543210.123456789", "1", "100", "0.1", "99999999999999999999999999999999999999",
    ])
    func decimalParsesExactly(text: String) throws {
        let d = try Decimal.parseExactDecimal(text, type: .numeric)
        #expect(d.description == text)
    }

    @Test func decimalNormalisesAndRefuses() throws {
        #expect(try Decimal.parseExactDecimal("1.50000", type: .numeric).description == "1.5")
        #expect(try Decimal.parseExactDecimal("-0.000", type: .numeric) == 0)
        #expect(try Decimal.parseExactDecimal("000123.4500", type: .numeric).description == "123.45")
        #expect(try Decimal.parseExactDecimal("1" + String(repeating: "0", count: 45), type: .numeric)
            == Decimal(sign: .plus, exponent: 45, significand: 1))
        #expect(throws: PostgresDecodingFailure.self) { try Decimal.parseExactDecimal("NaN", type: .numeric) }
        #expect(throws: PostgresDecodingFailure.self) { try Decimal.parseExactDecimal("Infinity", type: .numeric) }
        #expect(throws: PostgresDecodingFailure.self) {
            try Decimal.parseExactDecimal("1234567890123456789012345678901234567890.5", type: .numeric)
        }
        #expect(throws: PostgresDecodingFailure.self) { try Decimal.parseExactDecimal("1.2.3", type: .numeric) }
        #expect(throws: PostgresDecodingFailure.self) { try Decimal.parseExactDecimal("", type: .numeric) }
    }

    @Test func timestampParsing() throws {
        func parse(_ s: String) throws -> Int64 { try PostgresTimestamp.parse(s, type: .timestamptz) }
        #expect(try parse("1970-01-01 00:00:00+00") == 0)
        #expect(try parse("2024-03-15 10:20:30.123456+05:30") == 1_710_478_230_123_456)
        #expect(try parse("2024-03-15 04:50:30.123456+00") == 1_710_478_230_123_456)
        #expect(try parse("2024-03-15 01:20:30.12-03:30") == 1_710_478_230_120_000)
        #expect(try parse("1850-01-01 05:53:28+05:53:28") == -3_786_825_600_000_000)
        #expect(try parse("1969-12-31 23:59:59.999999+00") == -1)
        #expect(try parse("2024-02-29") == 1_709_164_800_000_000)
        #expect(try parse("12345-01-01 00:00:00+00") > 0)
        #expect(throws: PostgresDecodingFailure.self) { try parse("infinity") }
        #expect(throws: PostgresDecodingFailure.self) { try parse("-infinity") }
        #expect(throws: PostgresDecodingFailure.self) { try parse("0044-03-15 00:00:00+00 BC") }
        #expect(throws: PostgresDecodingFailure.self) { try parse("Fri Mar 15 10:20:30 2024 UTC") }
        for micros: Int64 in [0, -1, 1_710_478_230_123_456, -62_135_596_800_000_000, 253_402_300_799_999_999] {
            #expect(try parse(PostgresTimestamp.format(microseconds: micros)) == micros)
        }
    }
}
