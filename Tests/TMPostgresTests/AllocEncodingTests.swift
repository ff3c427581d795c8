import Foundation
import Testing
import TMCore
@testable import TMPostgres

/// The allocation cuts of session 24 keep every byte and value: array literals written element by
/// element equal the literal of the elements' `postgresData()`, a numeric decoded from its text is the
/// same `Decimal` (value and representation) as the chunked product gives, and a result's cells read
/// from one shared buffer decode as before (NULLs, empty text, several rows).
@Suite struct AllocEncodingTests {
    /// The literal as it was built before: each element's `postgresData()` bytes, quoted and escaped.
    private func referenceLiteral(_ elements: [PostgresData?]) -> [UInt8] {
        var out: [UInt8] = Array("{".utf8)
        for (index, element) in elements.enumerated() {
            if index > 0 { out += Array(",".utf8) }
            guard let bytes = element?.bytes else {
                out += Array("NULL".utf8)
                continue
            }
            out.append(UInt8(ascii: "\""))
            for byte in bytes {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        return out + Array("}".utf8)
    }

    private func expectSameLiteral<T: PostgresEncodable>(_ values: [T]) {
        let reference = referenceLiteral(values.map { $0.postgresData() })
        #expect(PostgresData.array(values).bytes == reference, "\(values)")
        #expect(PostgresData.array(values.map { Optional($0.postgresData()) }).bytes == reference)
        #expect(Array(PostgresArrayText.literal(values.map { $0.postgresData() }).utf8) == reference)
    }

    @Test func arrayLiteralsWrittenPerElementEqualTheElementsTextQuoted() {
        let ids = (0..<5).map { _ in UUID() }
        expectSameLiteral(ids)
        expectSameLiteral(ids.map { Optional($0) } + [nil])
        expectSameLiteral(["", "plain", "a,b", "{braces}", "\"quoted\"", "back\\slash", "Grüße — ₹ 🚀", " spaced ", "NULL"])
        expectSameLiteral([String?.none, "x", nil])
        expectSameLiteral([Decimal(string: "-0.00000001")!, Decimal(string: "12345678901234567890.5")!, 0])
        expectSameLiteral([Int.min, 0, Int.max])
        // Written directly since session 26 (no `PostgresData` per element): still the default's bytes.
        expectSameLiteral([Decimal.nan, Decimal(string: "0.1")!, Decimal(-7), Decimal(string: "99.25")!])
        expectSameLiteral([Decimal?.none, Decimal(string: "-101.5"), Decimal(string: "1e-9")])
        expectSameLiteral([Int64.min, -1, 0, Int64.max])
        expectSameLiteral([Int64?.none, 42, nil])
        expectSameLiteral([Int32.min, Int32.max])
        expectSameLiteral([Int16.min, 0, Int16.max])
        expectSameLiteral([true, false])
        expectSameLiteral([Bool?.none, true])
        expectSameLiteral([Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_765_000_000.123456),
                           Date(timeIntervalSince1970: -62_200_000_000)])
        expectSameLiteral([Date?.none, Date(timeIntervalSince1970: 1_765_000_000.5)])
        expectSameLiteral([UUID]())
        #expect(PostgresArrayText.uuids(ids) == "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}")
        #expect(PostgresArrayText.uuids([UUID]()) == "{}")
        for id in ids {
            #expect(id.postgresData().bytes == Array(id.uuidString.lowercased().utf8))
        }
    }

    /// The decoder before session 24: every digit through `Decimal` arithmetic.
    private func referenceDecimal(negative: Bool, digits: [UInt64], exponent: Int) -> Decimal {
        var significand = Decimal.zero
        var start = 0
        while start < digits.count {
            let end = min(start + 18, digits.count)
            var chunk: UInt64 = 0
            for d in digits[start..<end] { chunk = chunk * 10 + d }
            var scale = Decimal(1)
            for _ in start..<end { scale *= 10 }
            significand = significand * scale + Decimal(chunk)
            start = end
        }
        return Decimal(sign: negative ? .minus : .plus, exponent: exponent, significand: significand)
    }

    private func bytes(_ value: Decimal) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    @Test func numericTextDecodesToTheSameDecimalAsTheChunkedProduct() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<3_000 {
            let count = 1 + round % 38
            var digits = (0..<count).map { _ in UInt64.random(in: 0...9, using: &generator) }
            digits[0] = UInt64.random(in: 1...9, using: &generator)
            if round % 5 == 0 { digits[count - 1] = 0 }
            let fraction = Int.random(in: 0...min(count, 30), using: &generator)
            let negative = Bool.random(using: &generator)
            var text = digits.map(String.init).joined()
            if fraction > 0 { text.insert(".", at: text.index(text.endIndex, offsetBy: -fraction)) }
            if negative { text = "-" + text }
            var trimmed = digits
            var fractionLeft = fraction
            while fractionLeft > 0, trimmed.last == 0 {
                trimmed.removeLast()
                fractionLeft -= 1
            }
            let decoded = try Decimal.parseExactDecimal(text, type: .numeric)
            let reference = referenceDecimal(negative: negative, digits: trimmed, exponent: -fractionLeft)
            #expect(bytes(decoded) == bytes(reference), "\(text)")
            #expect(decoded == Decimal(string: text)!, "\(text)")
            #expect(try Decimal.decodePostgres(Array(text.utf8)[...], type: .numeric) == decoded)
        }
        #expect(try Decimal.parseExactDecimal("+00012.3400", type: .numeric).description == "12.34")
        #expect(try Decimal.parseExactDecimal("999999999999999999", type: .numeric).description == "999999999999999999")
        #expect(try Decimal.parseExactDecimal("-1000000000000000000", type: .numeric).description == "-1000000000000000000")
        for bad in ["-", "+", ".", "1e5", "1..2", " 1", "Infinity", "-Infinity"] {
            #expect(throws: PostgresDecodingFailure.self, "\(bad)") { try Decimal.parseExactDecimal(bad, type: .numeric) }
        }
    }

    @Test func cellsOfSeveralRowsFromOneBufferDecodeWithTheirNullsAndEmptyText() throws {
        let conn = try TestServer.connect()
        let id = UUID()
        let result = try conn.query("""
            SELECT * FROM (VALUES (1, 'first'::text, \(id)::uuid, 1.50::numeric),
                                  (2, '', NULL, NULL),
                                  (3, NULL, \(id)::uuid, -0.001)) AS t(n, s, id, amount) ORDER BY n
            """)
        #expect(result.count == 3)
        #expect(try result.map { try $0.decode("n", as: Int.self) } == [1, 2, 3])
        #expect(try result.map { try $0.decode("s", as: String?.self) } == ["first", "", nil])
        #expect(try result.map { try $0.isNull("s") } == [false, false, true])
        #expect(try result.map { try $0.decode("id", as: UUID?.self) } == [id, nil, id])
        #expect(try result.map { try $0.decode("amount", as: Decimal?.self) } == [Decimal(string: "1.5")!, nil, Decimal(string: "-0.001")!])
        #expect(try result[0].raw(1) == Array("first".utf8))
        #expect(try result[1].raw(1) == [])
        #expect(try result[2].raw(1) == nil)
        #expect(result[0].count == 4)
        #expect(throws: PostgresError.self) { try result[0].raw(4) }
        let none = try conn.query("SELECT 1 AS n WHERE false")
        #expect(none.isEmpty)
        #expect(none.columns.map(\.name) == ["n"])
    }
}
