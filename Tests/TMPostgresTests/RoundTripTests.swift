import Foundation
import Testing
import TMPostgres

/// Every supported type, sent as a parameter and decoded back, against a real server.
@Suite struct RoundTripTests {
    @Test(arguments: [
        "12345678901234.12345678", "-0.00000001", "0", "123456789012345678901234567890",
        "1234567890123456.78901234567891", "-99999999999999999999.99", "0.000000000000000000000000000001",
    ])
    func numericIsExact(text: String) throws {
        let conn = try TestServer.connect()
        let value = Decimal(string: text)!
        // Encoding: the server sees exactly the literal.
        let same = try conn.query("SELECT \(value) = \(text)::numeric AS same, \(text)::numeric AS v").scalar(as: Bool.self)
        #expect(same)
        // Decoding from the server's own text.
        let decoded = try conn.query("SELECT \(text)::numeric AS v").scalar(as: Decimal.self)
        #expect(decoded == value)
        #expect(decoded.description == text)
        // Through a numeric column.
        let table = uniqueName("num")
        try conn.simpleQuery("CREATE TABLE \(table) (amount numeric(60, 30) NOT NULL)")
        try conn.execute("INSERT INTO \(identifier: table) (amount) VALUES (\(value))")
        let stored = try conn.query("SELECT amount FROM \(identifier: table)").scalar(as: Decimal.self)
        #expect(stored == value)
        #expect(stored.description == text)
    }

    @Test func numericTooPreciseIsAnErrorNotARounding() throws {
        let conn = try TestServer.connect()
        let result = try conn.query("SELECT '1234567890123456789012345678901234567890.5'::numeric AS balance, 'NaN'::numeric AS odd")
        #expect {
            try result[0].decode("balance", as: Decimal.self)
        } throws: { error in
            let e = error as? PostgresError
            return e?.kind == .decoding && e?.column == "balance" && "\(error)".contains("significant digits")
        }
        #expect(throws: PostgresError.self) { try result[0].decode("odd", as: Decimal.self) }
    }

    @Test func integersBoolsTextAndDoubles() throws {
        let conn = try TestServer.connect()
        let text = "Grüße, \"quotes\" 'single' \\ back — ₹ 🚀"
        let row = try conn.query("""
            SELECT \(Int.max) AS imax, \(Int64.min) AS imin, \(Int32(-7)) AS i32, \(Int16(300)) AS i16,
                   \(true) AS t, \(false) AS f, \(text) AS s, \(1.5e-7) AS d, \(Double.infinity) AS inf,
                   \(String?.none)::text AS nothing
            """)[0]
        #expect(try row.decode("imax", as: Int.self) == .max)
        #expect(try row.decode("imin", as: Int64.self) == .min)
        #expect(try row.decode("i32", as: Int32.self) == -7)
        #expect(try row.decode("i16", as: Int16.self) == 300)
        #expect(try row.decode("t", as: Bool.self) == true)
        #expect(try row.decode("f", as: Bool.self) == false)
        #expect(try row.decode("s", as: String.self) == text)
        #expect(try row.decode("d", as: Double.self) == 1.5e-7)
        #expect(try row.decode("inf", as: Double.self) == .infinity)
        #expect(try row.isNull("nothing"))
        #expect(try row.decode("nothing", as: String?.self) == nil)
        #expect(row.columnNames == ["imax", "imin", "i32", "i16", "t", "f", "s", "d", "inf", "nothing"])
        // By index, and an integer out of range is an error rather than a truncation.
        #expect(try row.decode(2, as: Int.self) == -7)
        #expect(throws: PostgresError.self) { try row.decode("imax", as: Int32.self) }
    }

    @Test func timestamptzWithMicrosecondsAndOffsets() throws {
        let conn = try TestServer.connect()
        let instant = Date(timeIntervalSince1970: 1_710_478_230.123456)
        let back = try conn.query("SELECT \(instant) AS at").scalar(as: Date.self)
        #expect(Self.micros(back) == 1_710_478_230_123_456)

        // The server renders in the session's zone; a non-UTC offset must parse to the same instant.
        try conn.simpleQuery("SET TIME ZONE 'Asia/Kolkata'")
        let result = try conn.query("SELECT \(instant) AS at, \(instant)::text AS shown")
        #expect(try result[0].decode("shown", as: String.self) == "2024-03-15 10:20:30.123456+05:30")
        #expect(Self.micros(try result[0].decode("at", as: Date.self)) == 1_710_478_230_123_456)

        try conn.simpleQuery("SET TIME ZONE 'America/St_Johns'")
        let stJohns = try conn.query("SELECT '2024-01-15 12:00:00.5+00'::timestamptz AS at, '2024-01-15 12:00:00.5+00'::timestamptz::text AS shown")
        #expect(try stJohns[0].decode("shown", as: String.self) == "2024-01-15 08:30:00.5-03:30")
        #expect(Self.micros(try stJohns[0].decode("at", as: Date.self)) == 1_705_320_000_500_000)

        // Local mean time before standard zones: an offset with seconds.
        try conn.simpleQuery("SET TIME ZONE 'Asia/Kolkata'")
        let lmt = try conn.query("SELECT '1850-01-01 00:00:00+00'::timestamptz AS at")
        #expect(Self.micros(try lmt.scalar(as: Date.self)) == -3_786_825_600_000_000)

        // Stored in a column, read back by a UTC session.
        let table = uniqueName("ts")
        try conn.simpleQuery("CREATE TABLE \(table) (at timestamptz NOT NULL)")
        try conn.execute("INSERT INTO \(identifier: table) VALUES (\(instant))")
        try conn.simpleQuery("SET TIME ZONE 'UTC'")
        #expect(Self.micros(try conn.query("SELECT at FROM \(identifier: table)").scalar(as: Date.self)) == 1_710_478_230_123_456)

        // timestamp without zone and date are read as UTC.
        let plain = try conn.query("SELECT '2024-03-15 04:50:30.123456'::timestamp AS ts, '2024-02-29'::date AS d")[0]
        #expect(Self.micros(try plain.decode("ts", as: Date.self)) == 1_710_478_230_123_456)
        #expect(Self.micros(try plain.decode("d", as: Date.self)) == 1_709_164_800_000_000)
    }

    @Test func infinityAndBCAreClearErrors() throws {
        let conn = try TestServer.connect()
        let row = try conn.query("SELECT 'infinity'::timestamptz AS forever, '0044-03-15 00:00:00+00 BC'::timestamptz AS ides")[0]
        #expect {
            try row.decode("forever", as: Date.self)
        } throws: { "\($0)".contains("forever") && "\($0)".contains("infinity") }
        #expect {
            try row.decode("ides", as: Date.self)
        } throws: { "\($0)".contains("ides") && "\($0)".contains("BC") }
    }

    @Test func uuidJSONAndBytea() throws {
        struct Payload: Codable, Equatable {
            var symbol: String
            var qty: Int
            var tags: [String]
        }
        let conn = try TestServer.connect()
        let id = UUID()
        let payload = Payload(symbol: "NSE:INFY", qty: 3, tags: ["a", "b\"c"])
        let json = try PostgresJSON(encoding: payload)
        let blob: [UInt8] = [0, 1, 2, 0, 255, 0x5c, 0x78, 0]
        let empty: [UInt8] = []
        let table = uniqueName("misc")
        try conn.simpleQuery("CREATE TABLE \(table) (id uuid PRIMARY KEY, doc jsonb, blob bytea, data bytea, empty bytea, note text)")
        try conn.execute("""
            INSERT INTO \(identifier: table) (id, doc, blob, data, empty, note)
            VALUES (\(id), \(json), \(blob), \(Data(blob)), \(empty), \(String?.none))
            """)
        let row = try conn.query("SELECT * FROM \(identifier: table) WHERE id = \(id)")[0]
        #expect(try row.decode("id", as: UUID.self) == id)
        #expect(try row.decode("doc", as: PostgresJSON.self).decode(Payload.self) == payload)
        #expect(try row.decode("blob", as: [UInt8].self) == blob)
        #expect(try row.decode("data", as: Data.self) == Data(blob))
        #expect(try row.decode("empty", as: [UInt8].self) == [])
        #expect(try row.decode("note", as: String?.self) == nil)
        #expect(try row.decode("doc", as: PostgresJSON?.self) != nil)
        // jsonb is usable server-side, i.e. it was stored as JSON and not as a string.
        #expect(try conn.query("SELECT doc->>'symbol' FROM \(identifier: table)").scalar(as: String.self) == "NSE:INFY")
        // A raw JSON string goes in as-is.
        #expect(try conn.query("SELECT (\(PostgresJSON("{\"a\": [1, 2]}")))->'a'->>1").scalar(as: Int.self) == 2)
    }

    @Test func nullsBindAndDecode() throws {
        let conn = try TestServer.connect()
        let noInt: Int? = nil
        let someInt: Int? = 5
        let row = try conn.query("SELECT \(noInt) AS a, \(someInt) AS b, \(noInt) IS NULL AS c")[0]
        #expect(try row.decode("a", as: Int?.self) == nil)
        #expect(try row.decode("b", as: Int?.self) == 5)
        #expect(try row.decode("c", as: Bool.self))
        #expect {
            try row.decode("a", as: Int.self)
        } throws: { error in
            let e = error as? PostgresError
            return e?.kind == .decoding && e?.column == "a" && e!.message.contains("NULL")
        }
    }

    /// A list binds as one array parameter and comes back element for element, whatever the text
    /// holds: quotes, backslashes, commas, braces, spaces, the word NULL, empty strings; nil is NULL.
    @Test func arraysBindElementForElement() throws {
        let conn = try TestServer.connect()
        let texts: [String?] = ["plain", "with \"quotes\"", "back\\slash", "a,b", "{braces}", " spaced ", "NULL", "", nil, "ünïcode ₹"]
        let back = try conn.query("SELECT t FROM unnest(\(PostgresData.array(texts))::text[]) WITH ORDINALITY AS a (t, n) ORDER BY n")
            .map { try $0.decode("t", as: String?.self) }
        #expect(back == texts)
        let amounts: [Decimal?] = [Decimal(string: "0.00000001")!, nil, Decimal(string: "-12345678901234567890.5")!]
        let sums = try conn.query("SELECT x FROM unnest(\(PostgresData.array(amounts))::numeric[]) WITH ORDINALITY AS a (x, n) ORDER BY n")
            .map { try $0.decode("x", as: Decimal?.self) }
        #expect(sums == amounts)
        let empty: [Int] = []
        #expect(try conn.query("SELECT cardinality(\(PostgresData.array(empty))::bigint[])").scalar(as: Int.self) == 0)
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
}
