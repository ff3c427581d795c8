import Foundation
import Testing
import TestSupport
import TMBrokers
import TMDatabase
import TMPostgres
@testable import TMOrders
@testable import TMSync

/// What an order row is stamped with, whoever writes it: `updated_at` on every update; the first
/// acceptance (kept after), the fill time and the slippage. An UPDATE by the platform's writers — the
/// placer's lone, batched and answered moves (`OrderStore.updateSet`) and sync (`SyncWriter`) — writes
/// them in its own SET list (`OrderRowStamps`, migration 0045): their tests run with the safety net
/// `orders_restamp` switched off, so only the writer's statement can have stamped the row. A hand-made
/// UPDATE is stamped by that net after its statement; an insert that arrives accepted, filled or with a
/// fill (sync imports such orders) by `orders_stamp_inserted` (0036; its condition in the function since 0052); the order path's new rows by
/// nothing.
@Suite(.serialized) struct OrderStampTests {
    static let user = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!, account = UUID(uuidString: "00000000-0000-0000-0000-00000000000a")!
    static let old = "2000-01-01T00:00:00Z"

    struct Stamps: Equatable {
        var accepted: Bool
        var filled: Bool
        var slippage: String?
    }

    static func seed(_ db: PostgresConnection) throws {
        try db.execute("INSERT INTO users (id, email) VALUES (\(user), 'stamp@example.com')")
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(account), \(user), 'kite', 'stamp')")
    }

    /// A migrated database with the seed, its net (`orders_restamp`) on or off.
    static func database(net: Bool) throws -> (TestDatabase, PostgresConnection) {
        let database = try TestDatabase(migrated: true, prefix: "tm_stamp")
        let db = try database.connect()
        try seed(db)
        if !net { try db.execute("ALTER TABLE orders DISABLE TRIGGER orders_restamp") }
        return (database, db)
    }

    /// Inserts an order in `state` (a broker-origin row: no keys needed) bought at a requested 100.
    static func insert(_ db: PostgresConnection, state: String, filled: Decimal = 0, average: Decimal? = nil, side: String = "buy") throws -> UUID {
        try db.query("""
            INSERT INTO orders (user_id, account_id, origin, broker_order_id, symbol, exchange, side, order_type, quantity, state,
                                requested_price, filled_quantity, average_price)
            VALUES (\(user), \(account), 'broker', \(UUID().uuidString), 'INFY', 'NSE', \(side), 'market', 10, \(state),
                    100, \(filled), \(average))
            RETURNING id
            """).rows[0].decode("id")
    }

    /// A platform order of 10 at a requested 100, written by the placer in SUBMITTING, its
    /// `updated_at` then set back (so that the next write's stamp shows).
    static func placed(_ db: PostgresConnection, side: OrderSide = .buy) throws -> OrderRecord {
        let key = "stamp-\(UUID().uuidString.prefix(8).lowercased())"
        let row = NewOrder(id: UUID(), userID: user, accountID: account, requestedAccountID: account, parentID: nil,
                           order: PlaceOrder(idempotencyKey: key, accountID: account, symbol: "INFY", exchange: "NSE", side: side,
                                             quantity: 10, type: .market),
                           quantity: 10, clientOrderID: key, state: .submitting, requestedPrice: 100,
                           riskDecision: .object([("passed", true)]), route: nil, rejectCode: nil, rejectReason: nil, submittedAt: Date(),
                           steps: [(.routed, nil), (.submitting, nil)])
        _ = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([row]), fencingToken: nil)]) }()
        try backdate(db, row.id)
        return try #require(try OrderStore.load(db, id: row.id))
    }

    static func backdate(_ db: PostgresConnection, _ id: UUID) throws {
        try db.execute("UPDATE orders SET updated_at = \(old)::timestamptz WHERE id = \(id)")
    }

    /// Moves every order as the placer does, in one transaction (one move: the lone statement; more:
    /// the merged one; a refusal: the answered one); returns the orders as moved, by id.
    static func move(_ db: PostgresConnection, _ moves: [OrderMove]) throws -> [UUID: OrderRecord] {
        let written = try db.transaction { db in try OrderStore.perform(db, moves.map { OrderWrite(kind: .move($0), fencingToken: nil) }) }()
        #expect(written.allSatisfy { $0.record != nil }, "every move written")
        return Dictionary(uniqueKeysWithValues: written.compactMap(\.record).map { ($0.id, $0) })
    }

    static func fill(_ filled: Decimal, at average: Decimal) -> OrderChanges {
        OrderChanges(filledQuantity: filled, averagePrice: average)
    }

    static func stamps(_ db: PostgresConnection, _ id: UUID) throws -> Stamps {
        let row = try db.query("""
            SELECT accepted_at IS NOT NULL AS accepted, filled_at IS NOT NULL AS filled, slippage_bps::text AS slippage FROM orders WHERE id = \(id)
            """).rows[0]
        return Stamps(accepted: try row.decode("accepted"), filled: try row.decode("filled"), slippage: try row.decode("slippage"))
    }

    static func acceptedAt(_ db: PostgresConnection, _ id: UUID) throws -> String? {
        try db.query("SELECT accepted_at::text AS at FROM orders WHERE id = \(id)").rows[0].decode("at")
    }

    /// The row's updated_at is its last writing transaction's time (not an older value it was given).
    static func touched(_ db: PostgresConnection, _ id: UUID) throws -> Bool {
        try db.query("SELECT updated_at > '2000-01-02T00:00:00Z' AND updated_at <= now() AS touched FROM orders WHERE id = \(id)").rows[0].decode("touched")
    }

    @Test func anInsertIsStampedExactlyWhenItArrivesAcceptedOrWithAFill() throws {
        let (database, db) = try Self.database(net: true)
        defer { db.close(); database.drop() }
        // The order path's new rows: nothing to stamp.
        for state in ["RECEIVED", "ROUTED", "SUBMITTING"] {
            let id = try Self.insert(db, state: state)
            #expect(try Self.stamps(db, id) == Stamps(accepted: false, filled: false, slippage: nil), "\(state)")
        }
        // Found at the broker already accepted, part-filled, filled.
        #expect(try Self.stamps(db, Self.insert(db, state: "ACCEPTED")) == Stamps(accepted: true, filled: false, slippage: nil))
        #expect(try Self.stamps(db, Self.insert(db, state: "PARTIALLY_FILLED", filled: 4, average: 101))
            == Stamps(accepted: true, filled: false, slippage: "100.00"))
        #expect(try Self.stamps(db, Self.insert(db, state: "FILLED", filled: 10, average: 99.5))
            == Stamps(accepted: true, filled: true, slippage: "-50.00"))
        // Cancelled after a part fill: not accepted by this rule, but its fill has a slippage.
        #expect(try Self.stamps(db, Self.insert(db, state: "CANCELLED", filled: 2, average: 102))
            == Stamps(accepted: false, filled: false, slippage: "200.00"))
    }

    @Test func thePlacersLoneMovesStampTheRowThemselves() throws {
        let (database, db) = try Self.database(net: false)
        defer { db.close(); database.drop() }
        var order = try Self.placed(db)
        order = try #require(try Self.move(db, [OrderMove(order: order, to: .accepted, changes: OrderChanges(brokerOrderID: "b-1"))])[order.id])
        #expect(try Self.touched(db, order.id), "updated_at")
        #expect(try Self.stamps(db, order.id) == Stamps(accepted: true, filled: false, slippage: nil))
        let accepted = try Self.acceptedAt(db, order.id)

        try Self.backdate(db, order.id)
        order = try #require(try Self.move(db, [OrderMove(order: order, to: .partiallyFilled, changes: Self.fill(4, at: 101))])[order.id])
        #expect(try Self.touched(db, order.id))
        #expect(try Self.stamps(db, order.id) == Stamps(accepted: true, filled: false, slippage: "100.00"))

        try Self.backdate(db, order.id)
        order = try #require(try Self.move(db, [OrderMove(order: order, to: .filled, changes: Self.fill(10, at: 101.5))])[order.id])
        #expect(try Self.touched(db, order.id))
        #expect(try Self.stamps(db, order.id) == Stamps(accepted: true, filled: true, slippage: "150.00"))
        #expect(try Self.acceptedAt(db, order.id) == accepted, "the first acceptance is kept")

        // A sell filled above its requested price did better than asked: a negative slippage.
        let sell = try Self.placed(db, side: .sell)
        _ = try Self.move(db, [OrderMove(order: sell, to: .filled, changes: Self.fill(10, at: 101))])
        #expect(try Self.stamps(db, sell.id) == Stamps(accepted: true, filled: true, slippage: "-100.00"))
        // A refusal (answered before its commit): touched, nothing else.
        let refused = try Self.placed(db)
        _ = try Self.move(db, [OrderMove(order: refused, to: .rejected, changes: OrderChanges(rejectCode: "TEST", rejectReason: "no"))])
        #expect(try Self.touched(db, refused.id))
        #expect(try Self.stamps(db, refused.id) == Stamps(accepted: false, filled: false, slippage: nil))
    }

    @Test func thePlacersMergedMovesStampEachRowThemselves() throws {
        let (database, db) = try Self.database(net: false)
        defer { db.close(); database.drop() }
        let (buy, sell) = (try Self.placed(db), try Self.placed(db, side: .sell))
        var later = try Self.placed(db)
        later = try #require(try Self.move(db, [OrderMove(order: later, to: .partiallyFilled, changes: Self.fill(2, at: 100))])[later.id])
        let firstAccepted = try Self.acceptedAt(db, later.id)
        try Self.backdate(db, later.id)

        let moved = try Self.move(db, [OrderMove(order: buy, to: .accepted, changes: OrderChanges(brokerOrderID: "b-2")),
                                       OrderMove(order: sell, to: .filled, changes: Self.fill(10, at: 99)),
                                       OrderMove(order: later, to: .filled, changes: Self.fill(10, at: 100.25))])
        #expect(moved.count == 3)
        for id in [buy.id, sell.id, later.id] { #expect(try Self.touched(db, id), "updated_at") }
        #expect(try Self.stamps(db, buy.id) == Stamps(accepted: true, filled: false, slippage: nil))
        // A sell filled below its requested price received less: a positive (worse) slippage.
        #expect(try Self.stamps(db, sell.id) == Stamps(accepted: true, filled: true, slippage: "100.00"))
        #expect(try Self.stamps(db, later.id) == Stamps(accepted: true, filled: true, slippage: "25.00"))
        #expect(try Self.acceptedAt(db, later.id) == firstAccepted, "the first acceptance is kept")
        #expect(moved[buy.id]?.state == .accepted && moved[sell.id]?.state == .filled && moved[later.id]?.state == .filled)
    }

    @Test func syncsUpdateStampsTheRowItself() throws {
        let (database, db) = try Self.database(net: false)
        defer { db.close(); database.drop() }
        let account = try BrokerAccount(row: try db.query("SELECT \(fragment: PostgresQuery(unsafeSQL: BrokerAccount.columns)) FROM broker_accounts WHERE id = \(Self.account)").rows[0])
        let writer = SyncWriter(db: db, account: account)
        let (buy, sell) = (try Self.placed(db), try Self.placed(db, side: .sell))
        func report(_ order: OrderRecord, _ status: BrokerOrderStatus, filled: Decimal, at average: Decimal?) -> BrokerOrder {
            BrokerOrder(brokerOrderID: "sync-\(order.clientOrderID)", clientOrderID: order.clientOrderID, symbol: "INFY", exchange: "NSE",
                        side: order.side, type: .market, quantity: 10, filledQuantity: filled, averagePrice: average, limitPrice: nil, status: status)
        }

        #expect(try writer.updateOrders([report(buy, .open, filled: 0, at: nil)]) == 1)
        #expect(try Self.touched(db, buy.id), "updated_at")
        #expect(try Self.stamps(db, buy.id) == Stamps(accepted: true, filled: false, slippage: nil))
        let accepted = try Self.acceptedAt(db, buy.id)

        try Self.backdate(db, buy.id)
        #expect(try writer.updateOrders([report(buy, .partiallyFilled, filled: 4, at: 100.5)]) == 1)
        #expect(try Self.touched(db, buy.id))
        #expect(try Self.stamps(db, buy.id) == Stamps(accepted: true, filled: false, slippage: "50.00"))

        try Self.backdate(db, buy.id)
        #expect(try writer.updateOrders([report(buy, .filled, filled: 10, at: 100.75), report(sell, .filled, filled: 10, at: 99.5)]) == 2)
        #expect(try Self.touched(db, buy.id) && Self.touched(db, sell.id))
        #expect(try Self.stamps(db, buy.id) == Stamps(accepted: true, filled: true, slippage: "75.00"))
        #expect(try Self.acceptedAt(db, buy.id) == accepted, "the first acceptance is kept")
        #expect(try Self.stamps(db, sell.id) == Stamps(accepted: true, filled: true, slippage: "50.00"), "a sell below its price: worse")
    }

    /// A hand-made UPDATE (an operator's, a function's) writes no stamps: `orders_restamp` writes them
    /// after its statement, as 0036's BEFORE trigger did — an old `updated_at` it sets is replaced.
    @Test func aHandMadeUpdateIsStampedAfterItsStatement() throws {
        let (database, db) = try Self.database(net: true)
        defer { db.close(); database.drop() }
        let id = try Self.insert(db, state: "SUBMITTING")
        func update(_ set: PostgresQuery) throws -> Stamps {
            try db.execute("UPDATE orders SET updated_at = \(Self.old)::timestamptz, \(fragment: set) WHERE id = \(id)")
            #expect(try Self.touched(db, id), "updated_at stamped after \(set.sql)")
            return try Self.stamps(db, id)
        }
        #expect(try update("version = version + 1") == Stamps(accepted: false, filled: false, slippage: nil))
        #expect(try update("state = 'ACCEPTED'") == Stamps(accepted: true, filled: false, slippage: nil))
        let accepted = try Self.acceptedAt(db, id)
        #expect(try update("state = 'PARTIALLY_FILLED', filled_quantity = 5, average_price = 100.5")
            == Stamps(accepted: true, filled: false, slippage: "50.00"))
        #expect(try update("state = 'FILLED', filled_quantity = 10, average_price = 101, slippage_bps = 7") == Stamps(accepted: true, filled: true, slippage: "100.00"))
        #expect(try Self.acceptedAt(db, id) == accepted, "the first acceptance is kept")
        // A platform write leaves the net nothing to do: one row version for its one row.
        let order = try Self.placed(db)
        // The session's row updates not yet flushed to the statistics, this transaction's among them.
        func updates(_ db: PostgresConnection) throws -> Int64 {
            try db.query("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'orders'").rows[0].decode("n_tup_upd")
        }
        let (versions, stamped): (Int64, Bool) = try db.transaction { db in
            let before = try updates(db)
            _ = try OrderStore.perform(db, [OrderWrite(kind: .move(OrderMove(order: order, to: .rejected, changes: OrderChanges(rejectCode: "TEST"))),
                                                       fencingToken: nil)])
            // Read in the writing transaction: the placer's own statement stamped it (`placed` backdated
            // the row by hand, which the net stamped then — so `touched` alone would show nothing).
            let stamped: Bool = try db.query("SELECT updated_at = now() AS stamped FROM orders WHERE id = \(order.id)").rows[0].decode("stamped")
            return (try updates(db) - before, stamped)
        }
        #expect(versions == 1)
        #expect(stamped, "updated_at written by the placer's UPDATE")
    }

    /// The net stamps a hand-made UPDATE of a row its transaction already wrote — updated before, or
    /// inserted (its `updated_at` is already the transaction's time) — and a sell with a sell's sign.
    @Test func aHandMadeUpdateOfARowWrittenEarlierInItsTransactionIsStamped() throws {
        let (database, db) = try Self.database(net: true)
        defer { db.close(); database.drop() }
        let sell = try Self.insert(db, state: "SUBMITTING", side: "sell")
        try db.transaction { db in
            try db.execute("UPDATE orders SET state = 'ACCEPTED', version = version + 1 WHERE id = \(sell)")
            try db.execute("UPDATE orders SET state = 'FILLED', filled_quantity = 10, average_price = 99, version = version + 1 WHERE id = \(sell)")
        }
        #expect(try Self.stamps(db, sell) == Stamps(accepted: true, filled: true, slippage: "100.00"), "a sell below its price: worse")
        let inserted: UUID = try db.transaction { db in
            let id = try Self.insert(db, state: "SUBMITTING")
            try db.execute("UPDATE orders SET state = 'FILLED', filled_quantity = 10, average_price = 101 WHERE id = \(id)")
            return id
        }
        #expect(try Self.stamps(db, inserted) == Stamps(accepted: true, filled: true, slippage: "100.00"))
    }

    /// Rows written under 0035's triggers keep their stamps through 0036 and 0045, and are stamped on
    /// their next update; no BEFORE UPDATE trigger is left on `orders` (it would lock every row updated).
    @Test func rowsWrittenBeforeMigration0036AreStampedOnTheirNextUpdate() throws {
        let database = try TestDatabase(migrated: false, prefix: "tm_stamp36")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        let all = try MigrationCatalog.bundled()
        try Migrator(connection: db, migrations: all.filter { $0.version <= 35 }).migrate()
        try Self.seed(db)
        let submitting = try Self.insert(db, state: "SUBMITTING")
        let accepted = try Self.insert(db, state: "ACCEPTED")
        let acceptedAt = try Self.acceptedAt(db, accepted)
        try Migrator(connection: db, migrations: all).migrate()

        try db.execute("UPDATE orders SET state = 'ACCEPTED', updated_at = \(Self.old)::timestamptz WHERE id = \(submitting)")
        #expect(try Self.touched(db, submitting))
        #expect(try Self.stamps(db, submitting) == Stamps(accepted: true, filled: false, slippage: nil))
        try db.execute("UPDATE orders SET state = 'FILLED', filled_quantity = 10, average_price = 100 WHERE id = \(accepted)")
        #expect(try Self.stamps(db, accepted) == Stamps(accepted: true, filled: true, slippage: "0.00"))
        #expect(try Self.acceptedAt(db, accepted) == acceptedAt, "the first acceptance is kept")
        let triggers: [String] = try db.query("""
            SELECT tgname FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND NOT tgisinternal AND tgtype & 2 = 2 ORDER BY tgname
            """).rows.map { try $0.decode("tgname") }
        #expect(triggers == ["orders_stamp_inserted"], "the one BEFORE trigger is the insert's")
    }
}
