import Foundation
import Logging
import Testing
import TestSupport
import TMCore
import TMPostgres
import TMQueue
import TMSync
@testable import TMAnalytics

/// `tm trades import` as a library: exact values, once; all or nothing; every bad row reported
/// with line, field and reason; `--skip-bad`; corrections; the events of what was written.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ImportTests {
    static let stored = """
        SELECT broker_trade_id || ' ' || symbol || ' ' || exchange || ' ' || side || ' ' || quantity::text || ' ' || price::text || ' ' || fees::text
               || ' ' || to_char(traded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || ' ' || coalesce(category, '-')
        FROM trades ORDER BY broker_trade_id
        """

    @Test func aGoodFileIsImportedExactlyOnceAndAnnounced() async throws {
        let f = try await ImportFixture()
        let first = try f.importFile(ImportFixture.good)
        #expect(first.committed && first.rows == 3 && first.created == 3 && first.corrected == 0 && first.unchanged == 0 && first.badRows == 0)
        #expect(try f.strings(Self.stored) == [
            "T1 INFY NSE buy 10.5 1500.25 12.5 2026-01-05T03:45:00.000000 -",
            "T2 INFY NSE sell 10.5 1510 0 2026-01-05T09:50:00.123456 intraday",
            "T3 AAPL NASDAQ buy 0.000000001 190.123456789 0.01 2026-01-06T14:30:00.000000 long_term",
        ])
        // One trade.created event per trade, in the outbox with the trades, for the account's user.
        #expect(first.events == 3)
        #expect(try f.strings("SELECT payload->>'event' || ' ' || (payload->>'user_id') || ' ' || (payload->>'broker_trade_id') FROM trade_event_outbox ORDER BY id")
                == ["T1", "T2", "T3"].map { "trade.created \(f.user.uuidString.lowercased()) \($0)" })
        let published = await TradeImport.publishEvents(try f.outbox, account: f.account, logger: Logger(label: "test"))
        #expect(published.published == 3 && published.waiting == 0)
        #expect(try await f.streamLength(f.events) == 3)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)

        // The same file again: nothing new, nothing announced.
        let again = try f.importFile(ImportFixture.good)
        #expect(again.committed && again.created == 0 && again.corrected == 0 && again.unchanged == 3 && again.events == 0)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 3)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
        await f.cleanUp()
    }

    @Test func aStoredTradeIdWithOtherValuesIsACorrection() async throws {
        let f = try await ImportFixture()
        _ = try f.importFile(ImportFixture.good)
        try f.db.connect().execute("DELETE FROM trade_event_outbox")
        let corrected = ImportFixture.good.replacingOccurrences(of: "sell,10.5,1510,0,", with: "sell,10.5,1511.5,0.75,")
        let report = try f.importFile(corrected)
        #expect(report.committed && report.created == 0 && report.corrected == 1 && report.unchanged == 2 && report.correctedTradeIDs == ["T2"])
        #expect(try f.strings(Self.stored)[1] == "T2 INFY NSE sell 10.5 1511.5 0.75 2026-01-05T09:50:00.123456 intraday")
        #expect(try f.strings("SELECT payload->>'event' || ' ' || (payload->>'price') FROM trade_event_outbox") == ["trade.updated 1511.5"])
        #expect(try f.strings("SELECT event_key FROM trade_event_outbox").allSatisfy { $0.hasPrefix("trade:\(f.account.uuidString.lowercased()):T2:u-") })
        await f.cleanUp()
    }

    /// Three good rows (the first two written in a batch before the first bad row), then every
    /// kind of bad row, then a good one.
    static let mixed = """
        symbol,exchange,side,quantity,price,fee,time,trade_id,category
        INFY,NSE,buy,1,100,0,2026-01-05T09:15:00+05:30,G1,
        INFY,NSE,buy,1,100,0,2026-01-05T09:16:00+05:30,G2,
        INFY,NSE,buy,1,100,0,2026-01-05T09:17:00+05:30,G3,
        ,NSE,buy,1,100,0,2026-01-05T09:15:00+05:30,B1,
        INFY,NSE,hold,0,-1,-0.5,2026-01-05 09:15:00,B2,scalp
        INFY,NSE,buy,1.0000000001,100,0,2026-02-30T09:15:00Z,B3,
        INFY,NSE,buy,1,100,0,2026-01-05T09:15:00+05:30,G1,
        INFY,NSE,buy,1,100

        INFY,NSE,sell,1,100,0,2026-01-05T10:00:00+05:30,G4,

        """

    static let mixedProblems: [String] = [
        "5 symbol", "6 side", "6 quantity", "6 price", "6 fee", "6 time", "6 category", "7 quantity", "7 time", "8 trade_id", "9 line",
    ]

    @Test func aFileWithBadRowsImportsNothingAndSaysWhereAndWhy() async throws {
        let f = try await ImportFixture()
        let report = try f.importFile(Self.mixed, batchSize: 2)
        #expect(!report.committed && report.rows == 9 && report.badRows == 5 && report.created == 0 && report.events == 0)
        #expect(report.problems.map { "\($0.line) \($0.field)" } == Self.mixedProblems)
        let text = report.problems.map(\.description)
        #expect(text.contains("line 5, symbol: missing"))
        #expect(text.contains("line 6, side: 'hold' is not buy or sell"))
        #expect(text.contains("line 6, quantity: must be > 0 (got 0)"))
        #expect(text.contains("line 6, price: must be > 0 (got -1)"))
        #expect(text.contains("line 6, fee: must be ≥ 0 (got -0.5)"))
        #expect(text.contains { $0.hasPrefix("line 6, time: '2026-01-05 09:15:00' is not an ISO 8601 time with an offset") })
        #expect(text.contains("line 7, quantity: '1.0000000001' is not an exact decimal of at most nine places"))
        #expect(text.contains("line 8, trade_id: duplicate trade id 'G1' (first on line 2)"))
        #expect(text.contains("line 9, line: 5 fields, the header has 9"))
        // Nothing stored, not even the rows written before the first bad one.
        #expect(try f.count("SELECT count(*)::int FROM trades") == 0)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
        await f.cleanUp()
    }

    @Test func skipBadImportsTheGoodRowsAndListsTheBadOnes() async throws {
        let f = try await ImportFixture()
        let report = try f.importFile(Self.mixed, skipBad: true, batchSize: 2)
        #expect(report.committed && report.rows == 9 && report.badRows == 5 && report.created == 4 && report.events == 4)
        #expect(report.problems.map { "\($0.line) \($0.field)" } == Self.mixedProblems)
        #expect(try f.strings("SELECT broker_trade_id FROM trades ORDER BY broker_trade_id") == ["G1", "G2", "G3", "G4"])
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 4)
        await f.cleanUp()
    }

    @Test func aBadHeaderOrNoHeaderImportsNothingEvenWithSkipBad() async throws {
        let f = try await ImportFixture()
        let header = try f.importFile("symbol,exchange,side,qty,price,fee,time,trade_id,price\nINFY,NSE,buy,1,100,0,2026-01-05T09:15:00Z,X1,100\n", skipBad: true)
        #expect(!header.committed)
        #expect(header.problems.map(\.description) == [
            "line 1, qty: unknown column (the columns: symbol, exchange, side, quantity, price, fee, time, trade_id, category)",
            "line 1, price: column named twice", "line 1, quantity: missing column",
        ])
        let empty = try f.importFile("", skipBad: true)
        #expect(!empty.committed && empty.problems.map(\.field) == ["header"])
        // A header alone is an empty import, not an error.
        let headerOnly = try f.importFile("trade_id,time,fee,price,quantity,side,exchange,symbol\n")
        #expect(headerOnly.committed && headerOnly.rows == 0)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 0)
        await f.cleanUp()
    }

    @Test func onlyManualAccountsTakeImports() async throws {
        let f = try await ImportFixture()
        let synced = try f.syncedAccount()
        #expect {
            _ = try f.importFile(ImportFixture.good, into: synced)
        } throws: { "\($0)".contains("is a kite account: its trades come from the broker's sync") }
        #expect(try f.count("SELECT count(*)::int FROM trades") == 0)
        await f.cleanUp()
    }

    @Test func rowsStreamAcrossChunksAndBatches() async throws {
        let f = try await ImportFixture()
        var text = "symbol,exchange,side,quantity,price,fee,time,trade_id\r\n"
        for i in 0..<2_500 { text += "SYM\(i % 7),NSE,\(i % 2 == 0 ? "buy" : "sell"),\(i + 1),\(i + 1).5,0.\(i % 10),2026-03-0\(1 + i % 9)T10:00:00Z,R\(i)\r\n" }
        let path = try f.file(text)
        // Lines cut across 7-byte chunks come out whole.
        var lines = try CSVLines(path: path, chunkSize: 7)
        var count = 0, last = ""
        while let line = try lines.next() { count += 1; last = String(decoding: line, as: UTF8.self) }
        lines.close()
        #expect(count == 2_501 && last == "SYM0,NSE,sell,2500,2500.5,0.9,2026-03-07T10:00:00Z,R2499")
        let report = try f.importFile(text)
        #expect(report.committed && report.created == 2_500 && report.events == 2_500)
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE quantity::text || '.5' = price::text") == 2_500)
        await f.cleanUp()
    }

    @Test func timesNeedAnOffsetAndAreExactToTheMicrosecond() {
        #expect(ISOTime.micros("1970-01-01T00:00:00Z") == 0)
        #expect(ISOTime.micros("1970-01-01T05:30:00+05:30") == 0)
        #expect(ISOTime.micros("1970-01-01T05:30:00+0530") == 0)
        #expect(ISOTime.micros("1970-01-01T01:00:00.000001+01:00") == 1)
        #expect(ISOTime.micros("1970-01-01T00:00:00-01:00") == 3_600_000_000)
        #expect(ISOTime.micros("2024-02-29 12:00:00.5Z") == 1_709_208_000_500_000)
        for bad in ["2026-01-05T09:15:00", "2026-01-05", "2026-02-29T00:00:00Z", "2026-01-05T24:00:00Z", "2026-01-05T09:15:00.1234567Z",
                    "2026-01-05T09:15:00.Z", "2026-01-05T09:15:00Z ", "2026-1-05T09:15:00Z", "yesterday"] {
            #expect(ISOTime.micros(bad) == nil, "\(bad)")
        }
    }

    @Test func quotedFieldsAndTheirErrors() {
        #expect(CSVLines.fields(ArraySlice(#"a,"b,c","say ""hi""", d ,"#.utf8)) == ["a", "b,c", #"say "hi""#, "d", ""])
        #expect(CSVLines.fields(ArraySlice(#"a,"open"#.utf8)) == nil)
        #expect(CSVLines.fields(ArraySlice(#"a,"x"y"#.utf8)) == nil)
    }
}
