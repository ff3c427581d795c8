import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMPostgres
@testable import TMOrders

/// A lone order's writes (`OrderStore.perform` given one plain write: `LoneWrite`) are each ONE
/// statement of fixed text with scalar parameters — parsed once per session, no array among its
/// parameters, planned once (its generic plan kept) — and write what a merged batch writes: the row,
/// its events in order, one outbox row. A refused move (answered before the commit) takes the same
/// one-row values and is planned once too.
@Suite(.serialized) struct PgLoneWriteTests {
    /// A new SUBMITTING row of `order`'s account, as the placer writes it (routed, then submitting).
    static func newRow(like order: OrderRecord, key: String) -> NewOrder {
        NewOrder(id: UUID(), userID: order.userID, accountID: order.accountID, requestedAccountID: order.accountID, parentID: nil,
                 order: PlaceOrder(idempotencyKey: key, accountID: order.accountID, symbol: order.symbol, exchange: order.exchange,
                                   side: order.side, quantity: order.quantity, type: order.type, limitPrice: order.limitPrice),
                 quantity: order.quantity, clientOrderID: "pglone\(UUID().uuidString.prefix(8).lowercased())", state: .submitting,
                 requestedPrice: Decimal(string: "1400.05"), riskDecision: .object([("passed", true)]), route: .object([("broker", "kite")]),
                 rejectCode: nil, rejectReason: nil, submittedAt: Date(), steps: [(.routed, .object([("broker", "kite")])), (.submitting, nil)])
    }

    /// Expects ONE prepared statement of this session holding `text` — a lone write's (starting WITH) or
    /// not — with no array parameter, run `runs` times, of which at most 5 with a custom plan.
    static func expectOneStatementPlannedOnce(_ db: PostgresConnection, holding text: String, lone: Bool, runs: Int) throws {
        let statements = try db.query("""
            SELECT parameter_types::text AS types, generic_plans, custom_plans FROM pg_prepared_statements
            WHERE strpos(statement, \(text)) > 0 AND (statement LIKE 'WITH%') = \(lone)
            """).rows.map { (types: try $0.decode("types", as: String.self), generic: try $0.decode("generic_plans", as: Int.self),
                             custom: try $0.decode("custom_plans", as: Int.self)) }
        #expect(statements.count == 1, "\(text): \(statements)")
        for statement in statements {
            #expect(!statement.types.contains("[]"), "\(text): no array parameter: \(statement.types)")
            #expect(statement.generic + statement.custom == runs && statement.custom <= 5, "\(text): \(statement)")
        }
    }

    @Test func aLoneOrdersTwoWritesAreOneFixedStatementEachPreparedAndPlannedOncePerSession() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placedID = try #require(try await h.placer().handle(h.place(.kite, key: "pglone-\(UUID().uuidString.prefix(8))"),
                                                                fences: PlacementHarness.delivery()).orderID)
        let template = try #require(try OrderStore.load(h.db, id: placedID))
        let db = try h.database.connect()
        defer { db.close() }
        let runs = 9
        var parsesAfterFirst = 0
        for n in 0..<runs {
            // The SUBMITTING write: the row and its three events.
            let row = Self.newRow(like: template, key: "pglone-\(n)-\(UUID().uuidString.prefix(8))")
            let inserted = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([row]), fencingToken: 5)]) }()
            let record = try #require(inserted.first?.record)
            #expect(inserted.count == 1 && record.id == row.id && record.state == .submitting && record.submitAttempts == 1)
            #expect(try h.events(key: row.order.idempotencyKey) == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING"])
            // The ACCEPTED write: the compare-and-set and its event.
            let accept = OrderMove(order: record, to: .accepted, changes: OrderChanges(brokerOrderID: "pglone-\(n)"), detail: nil)
            let moved = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(accept), fencingToken: 5)]) }()
            #expect(moved.first?.record?.state == .accepted && moved.first?.record?.version == record.version + 1)
            #expect(moved.first?.record?.brokerOrderID == "pglone-\(n)")
            #expect(try h.events(key: row.order.idempotencyKey).last == "SUBMITTING>ACCEPTED")
            // The same move again: the row moved on, nothing written.
            let again = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(accept), fencingToken: 5)]) }()
            #expect(again.first?.record == nil)
            #expect(try h.events(key: row.order.idempotencyKey).count == 4)
            if n == 0 { parsesAfterFirst = db.preparedCount }
        }
        #expect(db.preparedCount == parsesAfterFirst, "no statement parsed after the first order's")
        // ONE statement per shape, scalar parameters only, planned a few times at most.
        try Self.expectOneStatementPlannedOnce(db, holding: "INSERT INTO orders", lone: true, runs: runs)
        try Self.expectOneStatementPlannedOnce(db, holding: "UPDATE orders SET state", lone: true, runs: 2 * runs)
    }

    @Test func aLoneOrdersMessagesAreWhatABatchWrites() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placedID = try #require(try await h.placer().handle(h.place(.kite, key: "pglone-b-\(UUID().uuidString.prefix(8))"),
                                                                fences: PlacementHarness.delivery()).orderID)
        let template = try #require(try OrderStore.load(h.db, id: placedID))
        let alone = Self.newRow(like: template, key: "pglone-a-\(UUID().uuidString.prefix(8))")
        var merged = Self.newRow(like: template, key: "pglone-m-\(UUID().uuidString.prefix(8))")
        merged.clientOrderID = alone.clientOrderID + "m"
        let other = Self.newRow(like: template, key: "pglone-o-\(UUID().uuidString.prefix(8))")
        _ = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([alone]), fencingToken: nil)]) }()
        _ = try h.db.transaction { db in
            try OrderStore.perform(db, [OrderWrite(kind: .insert([merged]), fencingToken: nil), OrderWrite(kind: .insert([other]), fencingToken: nil)])
        }()
        // The same messages but for the order's own fields.
        func normalized(_ row: NewOrder) throws -> [String] {
            try OrderOutboxTextTests.messages(h.db, of: row.id).map { message in
                var fields = message.payload.objectFields ?? []
                fields.removeAll { ["order_id", "idempotency_key", "client_order_id"].contains($0.0) }
                return JSONValue.object(fields).text
            }
        }
        let aloneMessages = try normalized(alone)
        #expect(aloneMessages.count == 3)
        #expect(aloneMessages == (try normalized(merged)))
        #expect(try OrderOutboxTextTests.messages(h.db, of: alone.id).map(\.key) == OrderOutboxTextTests.events(h.db, of: alone.id).map(\.key))
    }

    @Test func aRefusedMoveTakesOneRowOfScalarsAndIsPlannedOncePerSession() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placedID = try #require(try await h.placer().handle(h.place(.kite, key: "pglone-r-\(UUID().uuidString.prefix(8))"),
                                                                fences: PlacementHarness.delivery()).orderID)
        let template = try #require(try OrderStore.load(h.db, id: placedID))
        // A table of some size, its statistics known (see PgLoneUpdatePlanTests).
        try h.db.execute("""
            INSERT INTO orders (user_id, account_id, origin, broker_order_id, symbol, exchange, side, order_type, quantity, state)
            SELECT \(template.userID), \(template.accountID), 'broker', 'pglone-filler-' || g, 'INFY', 'NSE', 'buy', 'market', 1, 'CANCELLED'
            FROM generate_series(1, 3000) g
            """)
        try h.db.execute("ANALYZE orders")
        let db = try h.database.connect()
        defer { db.close() }
        let runs = 9
        for n in 0..<runs {
            let row = Self.newRow(like: template, key: "pglone-r-\(n)-\(UUID().uuidString.prefix(8))")
            let record = try #require(try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([row]), fencingToken: nil)]) }()[0].record)
            let refusal = OrderMove(order: record, to: .rejected, changes: OrderChanges(rejectCode: "TEST", rejectReason: "refused in a test"), detail: nil)
            let written = try db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(refusal), fencingToken: nil)]) }()
            #expect(written[0].record?.state == .rejected && written[0].notified.count == 1)
        }
        // The refusal's UPDATE: the one prepared statement starting with it (the lone writes' start WITH).
        try Self.expectOneStatementPlannedOnce(db, holding: "UPDATE orders SET state", lone: false, runs: runs)
    }

    @Test func aMergedBatchWritesEventsOnlyForTheRowsItWrote() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let key = "pglone-t-\(UUID().uuidString.prefix(8))"
        let placedID = try #require(try await h.placer().handle(h.place(.kite, key: key), fences: PlacementHarness.delivery()).orderID)
        let placed = try #require(try OrderStore.load(h.db, id: placedID))
        let before = try OrderEventsOwnershipTests.events(h.db, of: placed.id)
        // Two new rows in one batch, one of them with a taken key: only the free one and its events land.
        var taken = Self.newRow(like: placed, key: key)
        taken.clientOrderID = placed.clientOrderID + "t"
        let free = Self.newRow(like: placed, key: key + "-free")
        let inserted = try h.db.transaction { db in
            try OrderStore.perform(db, [OrderWrite(kind: .insert([taken]), fencingToken: nil), OrderWrite(kind: .insert([free]), fencingToken: nil)])
        }()
        #expect(inserted[0].record == nil && inserted[1].record?.id == free.id)
        #expect(try OrderEventsOwnershipTests.events(h.db, of: taken.id) == 0 && OrderEventsOwnershipTests.events(h.db, of: free.id) == 3)
        // Two moves in one batch, one from a version the row left: only the other and its event land.
        let fresh = try #require(inserted[1].record)
        var old = placed
        old.version -= 1
        let staleMove = OrderMove(order: old, to: .filled, changes: OrderChanges(filledQuantity: placed.quantity, averagePrice: 1), detail: nil)
        let accept = OrderMove(order: fresh, to: .accepted, changes: OrderChanges(brokerOrderID: "pglone-t"), detail: nil)
        let moved = try h.db.transaction { db in
            try OrderStore.perform(db, [OrderWrite(kind: .move(staleMove), fencingToken: nil), OrderWrite(kind: .move(accept), fencingToken: nil)])
        }()
        #expect(moved[0].record == nil && moved[1].record?.state == .accepted)
        #expect(try OrderEventsOwnershipTests.events(h.db, of: placed.id) == before && OrderEventsOwnershipTests.events(h.db, of: fresh.id) == 4)
        #expect(try OrderEventsOwnershipTests.orphans(h.db) == 0)
    }
}
