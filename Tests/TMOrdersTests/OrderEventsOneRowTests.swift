import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMPostgres
@testable import TMOrders

/// A new order's steps are ONE `order_events` row since migration 0055 (the first step in the row's
/// columns, the later ones in `later_to_states`/`later_details`, their ids `id + 1`, `id + 2`), and
/// every reader sees what it saw before: one line per state change in `order_event_details` — ids
/// distinct and rising per order, each step from the state the one before reached, its detail —
/// and the `trade-events` messages and their keys byte for byte as the one-row-a-step writer made
/// them. The row's later steps are checked by `order_events_later_steps`.
@Suite(.serialized) struct OrderEventsOneRowTests {
    struct Line: Equatable, CustomStringConvertible {
        var id: Int64, from: String?, to: String, detail: String?, at: Date
        var description: String { "\(id) \(from ?? "-")>\(to) \(detail ?? "")" }
    }

    /// `order`'s lines as every reader reads them (`order_event_details`, by id).
    static func lines(_ db: PostgresConnection, of order: UUID) throws -> [Line] {
        try db.query("SELECT id, from_state, to_state, detail::text AS detail, at FROM order_event_details WHERE order_id = \(order) ORDER BY id")
            .rows.map { Line(id: try $0.decode("id"), from: try $0.decode("from_state"), to: try $0.decode("to_state"),
                             detail: try $0.decode("detail"), at: try $0.decode("at")) }
    }

    /// `order`'s stored rows (not steps).
    static func storedRows(_ db: PostgresConnection, of order: UUID) throws -> Int {
        try db.query("SELECT count(*)::int AS n FROM order_events WHERE order_id = \(order)").rows[0].decode("n", as: Int.self)
    }

    /// What every order's lines must be: ids distinct and rising, and each step from the state the
    /// one before it reached (the first from nothing).
    static func expectAChain(_ lines: [Line], _ states: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(lines.map(\.to) == states, "\(lines)", sourceLocation: sourceLocation)
        #expect(zip(lines, lines.dropFirst()).allSatisfy { $0.id < $1.id }, "ids distinct and rising: \(lines)", sourceLocation: sourceLocation)
        #expect(lines.map(\.from) == [nil] + lines.dropLast().map(\.to), "each step from the one before: \(lines)", sourceLocation: sourceLocation)
    }

    /// The keys of `order`'s messages are its lines' ids, in order, and each outbox row holding them
    /// has its lines in id order and an event key spanning them (`order-events:<min>-<max>`).
    static func expectKeysAreTheLines(_ h: PlacementHarness, _ order: UUID, _ lines: [Line], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let prefix = "order:\(order.uuidString.lowercased()):"
        let messages = try OrderOutboxTextTests.messages(h.db, of: order)
        #expect(messages.map(\.key) == lines.map { prefix + String($0.id) }, sourceLocation: sourceLocation)
        #expect(messages.map { $0.payload.objectFields?.first { $0.key == "to" }?.value } == lines.map { .string($0.to) }, sourceLocation: sourceLocation)
        for row in try h.db.query("SELECT event_key, batch FROM trade_event_outbox WHERE batch LIKE \("%\(prefix)%")").rows {
            let ids = try row.decode("batch", as: String.self).split(separator: "\n").map { line in
                Int64(line.split(separator: "\t")[0].split(separator: ":").last!)!
            }
            #expect(try row.decode("event_key", as: String.self) == "order-events:\(ids.min()!)-\(ids.max()!)", sourceLocation: sourceLocation)
            // The row's lines in the order of their ids — the batch's rows in order, each row's steps in order.
            #expect(ids == ids.sorted(), "lines in id order: \(ids)", sourceLocation: sourceLocation)
        }
    }

    static func newRow(like order: OrderRecord, key: String, state: OrderState, steps: [(to: OrderState, detail: JSONValue?)],
                       route: JSONValue? = nil) -> NewOrder {
        NewOrder(id: UUID(), userID: order.userID, accountID: order.accountID, requestedAccountID: order.accountID, parentID: nil,
                 order: PlaceOrder(idempotencyKey: key, accountID: order.accountID, symbol: order.symbol, exchange: order.exchange,
                                   side: order.side, quantity: order.quantity, type: order.type, limitPrice: order.limitPrice),
                 quantity: order.quantity, clientOrderID: "c" + key.filter { $0.isLetter || $0.isNumber }, state: state, requestedPrice: nil,
                 riskDecision: .object([("passed", .bool(state != .riskRejected))]), route: route,
                 rejectCode: state == .riskRejected ? "MAX_NOTIONAL" : nil, rejectReason: state == .riskRejected ? "too large" : nil,
                 submittedAt: state == .submitting ? Date() : nil, steps: steps)
    }

    @Test func aPlacedOrdersStepsAreOneRowReadAsOneLineEachWithItsOwnId() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placed = try await h.placer().handle(h.place(.kite, key: "one-row"), fences: PlacementHarness.delivery())
        let placedID = try #require(placed.orderID)
        let order = try #require(try OrderStore.load(h.db, id: placedID))
        // The new row's three steps in one row, its ACCEPTED in another.
        #expect(try Self.storedRows(h.db, of: order.id) == 2)
        var lines = try Self.lines(h.db, of: order.id)
        Self.expectAChain(lines, ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED"])
        #expect(lines.count == 4 && lines[1].id == lines[0].id + 1 && lines[2].id == lines[0].id + 2)
        #expect(lines[0].at == lines[1].at && lines[1].at == lines[2].at, "one transaction's steps")
        #expect(lines[1].detail != nil, "ROUTED's detail is the row's route")
        let shown = try #require(try OrderViews.show(h.db, order: order.id))
        #expect(shown.events.map { "\($0.fromState ?? "")>\($0.toState)" } == lines.map { "\($0.from ?? "")>\($0.to)" })
        // The next move (right after: nothing else took an id meanwhile) has an id of its own.
        let fill = OrderMove(order: order, to: .filled, changes: OrderChanges(filledQuantity: order.quantity, averagePrice: Decimal(string: "1399.5")!), detail: nil)
        #expect(try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .move(fill), fencingToken: nil)]) }()[0].record?.state == .filled)
        lines = try Self.lines(h.db, of: order.id)
        Self.expectAChain(lines, ["RECEIVED", "ROUTED", "SUBMITTING", "ACCEPTED", "FILLED"])
        try Self.expectKeysAreTheLines(h, order.id, lines)
    }

    @Test func batchedMixedAndAnsweredNewRowsAreOneRowEachWithTheirDetails() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let first = try #require(try await h.placer().handle(h.place(.kite, key: "one-row-seed"), fences: PlacementHarness.delivery()).orderID)
        let seed = try #require(try OrderStore.load(h.db, id: first))
        let route: JSONValue = .object([("broker", "kite"), ("why", "n\"1\t")])
        let a = Self.newRow(like: seed, key: "one-row-a", state: .submitting, steps: [(.routed, route), (.submitting, nil)], route: route)
        let b = Self.newRow(like: seed, key: "one-row-b", state: .submitting, steps: [(.routed, nil), (.submitting, .object([("note", "b")]))])
        // Two new rows in one batch: the merged statement.
        let written = try h.db.transaction { db in
            try OrderStore.perform(db, [OrderWrite(kind: .insert([a]), fencingToken: nil), OrderWrite(kind: .insert([b]), fencingToken: nil)])
        }()
        #expect(written.map { $0.record?.state } == [.submitting, .submitting])
        // Rows of two and three steps in one batch: the mixed statement.
        let c = Self.newRow(like: seed, key: "one-row-c", state: .routed, steps: [(.routed, .object([("note", "c")]))])
        let d = Self.newRow(like: seed, key: "one-row-d", state: .submitting, steps: [(.routed, nil), (.submitting, .object([("note", "d")]))])
        let mixed = try h.db.transaction { db in
            try OrderStore.perform(db, [OrderWrite(kind: .insert([c]), fencingToken: nil), OrderWrite(kind: .insert([d]), fencingToken: nil)])
        }()
        #expect(mixed.map { $0.record?.state } == [.routed, .submitting])
        // A new row alone (the lone statement), a ROUTED detail other than its route and a SUBMITTING one.
        let e = Self.newRow(like: seed, key: "one-row-e", state: .submitting,
                            steps: [(.routed, .object([("note", "e-routed")])), (.submitting, .object([("note", "e-submitting")]))])
        _ = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([e]), fencingToken: nil)]) }()
        // A risk denial: answered statements, its steps written by `record`.
        let denied = Self.newRow(like: seed, key: "one-row-denied", state: .riskRejected, steps: [(.riskRejected, .object([("reason", "MAX_NOTIONAL")]))])
        _ = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([denied]), fencingToken: nil)]) }()
        for (row, states) in [(a, ["RECEIVED", "ROUTED", "SUBMITTING"]), (b, ["RECEIVED", "ROUTED", "SUBMITTING"]), (c, ["RECEIVED", "ROUTED"]),
                              (d, ["RECEIVED", "ROUTED", "SUBMITTING"]), (e, ["RECEIVED", "ROUTED", "SUBMITTING"]), (denied, ["RECEIVED", "RISK_REJECTED"])] {
            #expect(try Self.storedRows(h.db, of: row.id) == 1)
            let lines = try Self.lines(h.db, of: row.id)
            Self.expectAChain(lines, states)
            try Self.expectKeysAreTheLines(h, row.id, lines)
        }
        // Details as jsonb writes them (its key order), compared as text.
        let canonical = { (json: String?) in try json.map { try h.db.query("SELECT \($0)::jsonb::text AS t").rows[0].decode("t", as: String.self) } }
        let details = { (row: NewOrder) in try Self.lines(h.db, of: row.id).map(\.detail) }
        #expect(try details(a) == [nil, try canonical(route.text), nil])
        #expect(try details(b) == [nil, nil, try canonical(#"{"note": "b"}"#)])
        #expect(try details(c) == [nil, try canonical(#"{"note": "c"}"#)])
        #expect(try details(d) == [nil, nil, try canonical(#"{"note": "d"}"#)])
        #expect(try details(e) == [nil, try canonical(#"{"note": "e-routed"}"#), try canonical(#"{"note": "e-submitting"}"#)])
        #expect(try details(denied) == [nil, try canonical(#"{"reason": "MAX_NOTIONAL"}"#)])
    }

    /// The one-row-a-step writer's statement (d89f34f's `OrderStore.eventInserts`, a `nextval` and a
    /// row per step), kept to compare what is published.
    static func oneRowAStep(_ events: EventRows.Order) -> PostgresQuery {
        let steps = OrderStore.stepRows(events)
        return """
            WITH steps AS (
                SELECT nextval('order_events_id_seq') AS id, s.*
                FROM (SELECT * FROM unnest(\(PostgresData.array(steps.map { _ in events.id }))::uuid[], \(PostgresData.array(steps.map(\.from)))::text[],
                                           \(PostgresData.array(steps.map(\.to)))::text[], \(PostgresData.array(steps.map(\.detail)))::jsonb[],
                                           \(PostgresData.array(steps.map(\.payload)))::text[])
                          WITH ORDINALITY AS s (order_id, from_state, to_state, detail, payload, n) ORDER BY s.n) s),
            e AS (
                INSERT INTO order_events (id, order_id, from_state, to_state, detail) OVERRIDING SYSTEM VALUE
                SELECT id, order_id, from_state, to_state, detail FROM steps),
            outbox AS (
                INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
                SELECT NULL, 'order-events:' || min(id) || '-' || max(id),
                       string_agg('order:' || order_id || ':' || id || E'\\t' || payload, E'\\n' ORDER BY n), count(*)
                FROM steps HAVING count(*) > 0)
            SELECT count(*) FROM steps
            """
    }

    /// An outbox row's text and key with each event id replaced by its rank in the row.
    static func ranked(_ db: PostgresConnection, _ order: UUID) throws -> (key: String, text: String) {
        let row = try db.query("SELECT event_key, batch FROM trade_event_outbox WHERE batch LIKE \("%order:\(order.uuidString.lowercased()):%") ORDER BY id DESC LIMIT 1").rows[0]
        var text = try row.decode("batch", as: String.self)
        let ids = text.split(separator: "\n").map { String($0.split(separator: "\t")[0].split(separator: ":").last!) }
        for (rank, id) in ids.enumerated() { text = text.replacingOccurrences(of: ":\(id)\t", with: ":#\(rank)\t") }
        let span = try row.decode("event_key", as: String.self).dropFirst("order-events:".count).split(separator: "-").map(String.init)
        let rank = { (id: String) in ids.firstIndex(of: id).map { "#\($0)" } ?? id }
        return ("order-events:" + span.map(rank).joined(separator: "-"), text)
    }

    @Test func aNewOrdersMessagesAreTheOneRowAStepWritersByteForByte() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let first = try #require(try await h.placer().handle(h.place(.kite, key: "one-row-bytes-seed"), fences: PlacementHarness.delivery()).orderID)
        let seed = try #require(try OrderStore.load(h.db, id: first))
        let route: JSONValue = .object([("broker", "kite"), ("score", .number("0.91"))])
        for (n, row) in [Self.newRow(like: seed, key: "one-row-bytes", state: .submitting, steps: [(.routed, route), (.submitting, nil)], route: route),
                         Self.newRow(like: seed, key: "one-row-bytes-denied", state: .riskRejected, steps: [(.riskRejected, .object([("reason", "X")]))])].enumerated() {
            _ = try h.db.transaction { db in try OrderStore.perform(db, [OrderWrite(kind: .insert([row]), fencingToken: nil)]) }()
            let now = try Self.ranked(h.db, row.id)
            try h.db.simpleQuery("BEGIN")
            _ = try h.db.query(Self.oneRowAStep(OrderStore.newRowEvents(row)))
            let before = try Self.ranked(h.db, row.id)
            try h.db.simpleQuery("ROLLBACK")
            #expect(now.text == before.text, "\(n): \(now.text)\n---\n\(before.text)")
            #expect(now.key == before.key && now.key == "order-events:#0-#\(row.steps.count)")
        }
    }

    /// The ids `id + 1`, `id + 2` of a row's later steps are free only because the sequence steps by at
    /// least a row's steps (no key covers them), and 0056 validated the form over the older rows.
    @Test func theSequenceStepsPastARowsStepsAndTheFormIsValidated() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let step = try h.db.query("""
            SELECT seqincrement FROM pg_sequence WHERE seqrelid = pg_get_serial_sequence('order_events', 'id')::regclass
            """).rows[0].decode("seqincrement", as: Int.self)
        #expect(step >= OrderStore.stepsPerEventRow, "order_events_id_seq steps by \(step)")
        let form = try h.db.query("""
            SELECT convalidated FROM pg_constraint WHERE conrelid = 'order_events'::regclass AND conname = 'order_events_form'
            """).rows.map { try $0.decode("convalidated", as: Bool.self) }
        #expect(form == [true])
    }

    /// `order_events_form` (0055): a row's later steps whole — both columns or neither, one or two,
    /// one-dimensional from 1, every state set, every detail an object or NULL — and its `detail` an
    /// object or NULL (0011's rule, moved in): a refusal names the rule broken, as a CHECK would.
    @Test func aRowsLaterStepsAreRefusedUnlessWhole() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let order = UUID()
        func insert(_ states: String, _ details: String, detail: String = "NULL") throws {
            _ = try h.db.execute(PostgresQuery(unsafeSQL: """
                INSERT INTO order_events (order_id, from_state, to_state, detail, later_to_states, later_details)
                VALUES ('\(order.uuidString.lowercased())', NULL, 'RECEIVED', \(detail), \(states), \(details))
                """))
        }
        func refusal(_ states: String, _ details: String, detail: String = "NULL") -> String? {
            do { try insert(states, details, detail: detail); return nil } catch let error as PostgresError {
                return error.sqlState == "23514" ? error.constraint : "\(error)"
            } catch { return "\(error)" }
        }
        for (states, details) in [("'{ROUTED}'", "NULL"), ("NULL", "'{NULL}'::jsonb[]"), ("'{}'", "'{}'::jsonb[]"),
                                  ("'{ROUTED,SUBMITTING,ACCEPTED}'", "'{NULL,NULL,NULL}'::jsonb[]"), ("'{ROUTED,NULL}'", "'{NULL,NULL}'::jsonb[]"),
                                  ("'{ROUTED,SUBMITTING}'", "'{NULL}'::jsonb[]"), ("'{ROUTED}'", "ARRAY['[1]']::jsonb[]"),
                                  ("'{ROUTED,SUBMITTING}'", #"ARRAY[NULL, '"x"']::jsonb[]"#), ("'[0:0]={ROUTED}'", "'{NULL}'::jsonb[]"),
                                  ("'{ROUTED}'", "'[2:2]={NULL}'::jsonb[]"), ("'{{ROUTED,SUBMITTING}}'", "'{NULL,NULL}'::jsonb[]"),
                                  ("'{ROUTED,SUBMITTING}'", #"ARRAY[ARRAY['"x"'::jsonb, '[1]'::jsonb]]"#)] {
            #expect(refusal(states, details) == "order_events_later_steps", "\(states) / \(details)")
        }
        #expect(refusal("NULL", "NULL", detail: #"'"x"'"#) == "order_events_detail_check")
        #expect(refusal("NULL", "NULL", detail: "'[]'") == "order_events_detail_check")
        try insert("'{ROUTED,SUBMITTING}'", #"ARRAY[NULL, '{"a": 1}']::jsonb[]"#)
        try insert("'{RISK_REJECTED}'", #"ARRAY['{"reason": "X"}']::jsonb[]"#, detail: #"'{"b": 2}'"#)
        try insert("NULL", "NULL")
        #expect(try Self.storedRows(h.db, of: order) == 3)
    }
}
