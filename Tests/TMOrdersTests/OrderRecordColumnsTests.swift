import Foundation
import Testing
import TMBrokers
import TMPostgres
import TestSupport
@testable import TMOrders

/// `OrderRecord(row:)` reads a row that begins with `OrderRecord.columns` by position and any other
/// row by name: both give the same record, every field from its own column. `columnNames` are the
/// names a real `SELECT` of `columns` labels its results with.
@Suite struct OrderRecordColumnsTests {
    @Test func columnNamesAreWhatTheColumnsListIsLabelledWith() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_recordcols")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let result = try db.query("SELECT \(fragment: OrderRecord.columns) FROM orders LIMIT 0")
        #expect(result.columns.map(\.name) == OrderRecord.columnNames)
    }

    /// Every column distinct from the others of its type, so a field read from a neighbour's column
    /// shows: the expected record is written out here, not read back.
    static let select = """
        'e1a0c7c2-0d5e-4c1b-9a55-000000000001'::uuid AS id, 'e1a0c7c2-0d5e-4c1b-9a55-000000000002'::uuid AS user_id,
        'e1a0c7c2-0d5e-4c1b-9a55-000000000003'::uuid AS account_id, 'e1a0c7c2-0d5e-4c1b-9a55-000000000004'::uuid AS requested_account_id,
        'e1a0c7c2-0d5e-4c1b-9a55-000000000005'::uuid AS parent_order_id, 'key-1' AS idempotency_key, 'client-1' AS client_order_id,
        'INFY' AS symbol, 'NSE' AS exchange, 'sell' AS side, 'stop_limit' AS order_type, 'ioc' AS time_in_force, 'intraday' AS product,
        10.5::numeric AS quantity, 101.35::numeric AS price, 99.95::numeric AS trigger_price, 'PARTIALLY_FILLED' AS state,
        'broker-7' AS broker_order_id, 4.25::numeric AS filled_quantity, 101.3::numeric AS average_price, 100.05::numeric AS requested_price,
        '2025-12-06 10:00:00.123456+00'::timestamptz AS created_at, '2025-12-06 10:00:01.5+00'::timestamptz AS submitted_at,
        2::int4 AS submit_attempts, 3::int4 AS lookup_attempts, 7::int4 AS version, true AS split_parent
        """

    /// The record `select` describes, field by field.
    static func expectTheSelectedRecord(_ record: OrderRecord, sourceLocation: SourceLocation = #_sourceLocation) {
        func id(_ n: Int) -> UUID { UUID(uuidString: "e1a0c7c2-0d5e-4c1b-9a55-00000000000\(n)")! }
        // Timestamps as the decoder builds them: whole seconds and microseconds apart.
        func date(_ seconds: Int, _ micros: Int) -> Date { Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000) }
        #expect([record.id, record.userID, record.accountID] == [id(1), id(2), id(3)], sourceLocation: sourceLocation)
        #expect(record.requestedAccountID == id(4) && record.parentID == id(5), sourceLocation: sourceLocation)
        #expect([record.idempotencyKey, record.clientOrderID, record.symbol, record.exchange] == ["key-1", "client-1", "INFY", "NSE"],
                sourceLocation: sourceLocation)
        #expect(record.side == .sell && record.type == .stopLimit && record.timeInForce == .ioc && record.product == .intraday,
                sourceLocation: sourceLocation)
        #expect([record.quantity, record.limitPrice, record.triggerPrice, record.filledQuantity, record.averagePrice, record.requestedPrice]
                == ["10.5", "101.35", "99.95", "4.25", "101.3", "100.05"].map { Decimal(string: $0) }, sourceLocation: sourceLocation)
        #expect(record.state == .partiallyFilled && record.brokerOrderID == "broker-7", sourceLocation: sourceLocation)
        #expect(record.createdAt == date(1_765_015_200, 123_456) && record.submittedAt == date(1_765_015_201, 500_000),
                sourceLocation: sourceLocation)
        #expect([record.submitAttempts, record.lookupAttempts, record.version] == [2, 3, 7] && record.isSplitParent,
                sourceLocation: sourceLocation)
    }

    @Test func aRowInColumnsOrderAndARowInAnyOrderReadTheSameRecord() throws {
        let database = try TestDatabase(migrated: false, prefix: "tm_recordrow")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        // Test-only text built from constants here (no input): spliced with `unsafeSQL`.
        let inOrder = try #require(try db.query(PostgresQuery(unsafeSQL: "SELECT \(Self.select)")).firstRow)
        #expect(inOrder.columnsBegin(with: OrderRecord.columnNames))
        // Another column first and the rest reversed: read by name.
        let reordered = try #require(try db.query(PostgresQuery(unsafeSQL: """
            SELECT 'x' AS extra, r.* FROM (SELECT \(Self.select)) AS s,
                LATERAL (SELECT \(OrderRecord.columnNames.reversed().map { "s.\($0)" }.joined(separator: ", "))) AS r
            """)).firstRow)
        #expect(!reordered.columnsBegin(with: OrderRecord.columnNames))
        Self.expectTheSelectedRecord(try OrderRecord(row: inOrder))
        Self.expectTheSelectedRecord(try OrderRecord(row: reordered))
    }
}
