import Foundation
import Testing
import TMCore
import TMPostgres

@Suite struct CopyTests {
    struct Stop: Error {}

    private func table(_ conn: PostgresConnection) throws -> String {
        let name = uniqueName("copy")
        try conn.simpleQuery("CREATE TABLE \(name) (id int PRIMARY KEY, note text, amount numeric)")
        return name
    }

    @Test func copyOutStreamsEveryRowInOrder() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        try conn.simpleQuery("INSERT INTO \(name) SELECT g, 'n' || g, g * 1.5 FROM generate_series(1, 1000) g")
        var rows: [String] = []
        let count = try conn.copyOut("COPY (SELECT id, note, amount FROM \(name) ORDER BY id) TO STDOUT") {
            rows.append(String(decoding: $0, as: UTF8.self))
        }
        #expect(count == 1000)
        #expect(rows.count == 1000)
        #expect(rows.first == "1\tn1\t1.5\n")
        #expect(rows.last == "1000\tn1000\t1500.0\n")
        #expect(try conn.copyOut("COPY (SELECT 7, NULL::text) TO STDOUT") == Array("7\t\\N\n".utf8))
    }

    @Test func copyInStoresRowsWithEscapesIntact() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        let awkward = "tab\there\nnew line \\ back {\"json\": \"a\\\"b\"}\r"
        let stored = try conn.copyIn("COPY \(name) (id, note, amount) FROM STDIN") { writer in
            for i in 1...3 {
                var row = Array("\(i)\t".utf8)
                PostgresCopyText.appendEscaped(i == 2 ? awkward : "plain \(i)", to: &row)
                row += Array("\t".utf8) + (i == 3 ? PostgresCopyText.null : Array("0.000000001".utf8)) + [UInt8(ascii: "\n")]
                try writer.write(row)
            }
        }
        #expect(stored == 3)
        let rows = try conn.query("SELECT id, note, amount::text AS amount FROM \(identifier: name) ORDER BY id")
        #expect(rows.count == 3)
        #expect(try rows[1].decode("note", as: String.self) == awkward)
        #expect(try rows[0].decode("amount", as: String?.self) == "0.000000001")
        #expect(try rows[2].decode("amount", as: String?.self) == nil)
    }

    @Test func aLargeCopyInIsSentInChunks() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        var sent = 0
        let stored = try conn.copyIn("COPY \(name) (id, note) FROM STDIN") { writer in
            for i in 1...50_000 { try writer.write("\(i)\t\(String(repeating: "x", count: 40))\n") }
            try writer.flush()
            sent = writer.bytesSent
        }
        #expect(stored == 50_000)
        #expect(sent > 1 << 20)
        #expect(try conn.query("SELECT count(*) FROM \(identifier: name)").scalar(as: Int.self) == 50_000)
    }

    @Test func aThrowingRowHandlerLeavesTheConnectionUsable() throws {
        let conn = try TestServer.connect()
        var seen = 0
        #expect(throws: Stop.self) {
            try conn.copyOut("COPY (SELECT g FROM generate_series(1, 5000) g) TO STDOUT") { _ in
                seen += 1
                if seen == 3 { throw Stop() }
            }
        }
        #expect(seen == 3)
        #expect(try conn.query("SELECT 41 + 1").scalar(as: Int.self) == 42)
    }

    @Test func anAbortedCopyInStoresNothingAndLeavesTheConnectionUsable() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        #expect(throws: Stop.self) {
            try conn.copyIn("COPY \(name) (id, note) FROM STDIN") { writer in
                try writer.write("1\tone\n")
                try writer.flush()
                throw Stop()
            }
        }
        #expect(try conn.query("SELECT count(*) FROM \(identifier: name)").scalar(as: Int.self) == 0)
    }

    @Test func dataTheServerRefusesIsANamedErrorAndTheConnectionStaysUsable() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        do {
            try conn.copyIn("COPY \(name) (id, note) FROM STDIN", data: Array("1\tok\nnot-a-number\tbad\n".utf8))
            Issue.record("expected the server to refuse the row")
        } catch let error as PostgresError {
            #expect(error.kind == .server)
            #expect(error.sqlState == "22P02")
        }
        #expect(try conn.query("SELECT count(*) FROM \(identifier: name)").scalar(as: Int.self) == 0)
        // A failure mid-COPY OUT (a row that errors) likewise.
        do {
            try conn.copyOut("COPY (SELECT 1 / (g - 3) FROM generate_series(1, 5) g) TO STDOUT") { _ in }
            Issue.record("expected division by zero")
        } catch let error as PostgresError {
            #expect(error.sqlState == "22012")
        }
        #expect(try conn.query("SELECT 1").scalar(as: Int.self) == 1)
    }

    @Test func aStatementThatIsNotTheRightCopyIsRefused() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        #expect { try conn.copyOut("SELECT 1") { _ in } } throws: { ($0 as? PostgresError)?.kind == .client }
        #expect { try conn.copyOut("COPY \(name) FROM STDIN") { _ in } } throws: { ($0 as? PostgresError)?.kind == .client }
        #expect { try conn.copyIn("COPY \(name) TO STDOUT", data: []) } throws: { ($0 as? PostgresError)?.kind == .client }
        #expect { try conn.copyOut("COPY no_such_table TO STDOUT") { _ in } } throws: { ($0 as? PostgresError)?.sqlState == "42P01" }
        #expect(try conn.query("SELECT count(*) FROM \(identifier: name)").scalar(as: Int.self) == 0)
    }

    @Test func aCopyInARolledBackTransactionLeavesNothing() throws {
        let conn = try TestServer.connect()
        let name = try table(conn)
        #expect(throws: Stop.self) {
            try conn.transaction { tx in
                try tx.copyIn("COPY \(name) (id) FROM STDIN", data: Array("1\n2\n".utf8))
                throw Stop()
            }
        }
        #expect(try conn.query("SELECT count(*) FROM \(identifier: name)").scalar(as: Int.self) == 0)
    }

    @Test func binaryCopyDecodesExactly() throws {
        let conn = try TestServer.connect()
        let id = UUID()
        let amounts = ["0", "1", "-1.5", "0.000000001", "123456789.123456789", "10000", "0.0001", "-12345.6789",
                       "999999999999999999.999999999", "100000000", "0.5000", "42.10"]
        let literals = amounts.map { "'\($0)'::numeric" }.joined(separator: ", ")
        var decoded: [FixedDecimal] = []
        var seenID: UUID?
        var micros: Int64?
        var text: String?
        var nullSeen = false
        var tuples = 0
        try conn.copyOut("""
            COPY (SELECT '\(id.uuidString.lowercased())'::uuid, timestamptz '2024-03-01 09:15:00.123456+00', 'INFY', NULL::text, \(literals))
            TO STDOUT (FORMAT binary)
            """) { message in
            var reader = try PostgresBinaryCopyReader(message)
            while let fields = try reader.nextTuple() {
                tuples += 1
                #expect(fields == 4 + amounts.count)
                seenID = try PostgresBinaryCopyReader.uuid(reader.requiredField("id"))
                micros = try PostgresBinaryCopyReader.timestampMicros(reader.requiredField("at"))
                let symbol = try reader.requiredField("symbol")
                text = PostgresBinaryCopyReader.string(symbol)
                #expect(PostgresBinaryCopyReader.equals(symbol, "INFY"))
                nullSeen = try reader.field() == nil
                for _ in amounts { decoded.append(try PostgresBinaryCopyReader.fixedDecimal(reader.requiredField("amount"))) }
            }
        }
        #expect(tuples == 1)
        #expect(seenID == id)
        #expect(micros == 1_709_284_500_123_456)
        #expect(text == "INFY")
        #expect(nullSeen)
        #expect(decoded == amounts.map { FixedDecimal($0)! })
    }

    @Test func binaryNumericBeyondNinePlacesIsRefused() throws {
        let conn = try TestServer.connect()
        for literal in ["1.0000000001", "'NaN'", "1e30"] {
            #expect(throws: PostgresError.self) {
                try conn.copyOut("COPY (SELECT \(literal)::numeric) TO STDOUT (FORMAT binary)") { message in
                    var reader = try PostgresBinaryCopyReader(message)
                    while try reader.nextTuple() != nil { _ = try PostgresBinaryCopyReader.fixedDecimal(reader.requiredField("n")) }
                }
            }
        }
        // Trailing zeros beyond nine places are exact.
        var value: FixedDecimal?
        try conn.copyOut("COPY (SELECT 2.500000000000::numeric) TO STDOUT (FORMAT binary)") { message in
            var reader = try PostgresBinaryCopyReader(message)
            while try reader.nextTuple() != nil { value = try PostgresBinaryCopyReader.fixedDecimal(reader.requiredField("n")) }
        }
        #expect(value == FixedDecimal("2.5"))
    }
}
