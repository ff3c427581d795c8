import Foundation
import Testing
import TMBrokers
import TMCore
import TMPostgres
import TestSupport
@testable import TMOrders

/// A batch's merged statements (`OrderStore.insertWithEvents`, `oneMoveWithEvents`,
/// `manyMovesWithEvents`) have fixed text, built once (`FixedStatement`), and per batch only their
/// values: the text and the values must be exactly what the statement interpolated for every batch
/// gave — same SQL bytes, same binds in the same order. The reference is that construction, kept here.
@Suite struct OrderBatchStatementTests {
    enum Reference {
        static func insertStatement(_ rows: [(row: NewOrder, token: Int64?)]) -> PostgresQuery {
            func column<T: PostgresEncodable>(_ value: (NewOrder) -> T) -> PostgresData { .array(rows.map { value($0.row) }) }
            return """
                \(fragment: OrderStore.insertInto)
                SELECT id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol,
                       exchange, side, order_type, time_in_force, product, quantity, price, trigger_price, state, requested_price,
                       risk_decision, route, reject_code, reject_reason, submitted_at, CASE WHEN submitted_at IS NULL THEN 0 ELSE 1 END,
                       fencing_token, CASE WHEN terminal THEN now() END
                FROM unnest(\(column { $0.id })::uuid[], \(column { $0.userID })::uuid[], \(column { $0.accountID })::uuid[],
                            \(column { $0.requestedAccountColumn })::uuid[], \(column { $0.parentID })::uuid[], \(column { $0.order.idempotencyKey })::text[],
                            \(column { $0.clientOrderID })::text[], \(column { $0.order.symbol })::text[], \(column { $0.order.exchange })::text[],
                            \(column { $0.order.side.rawValue })::text[], \(column { $0.order.type.rawValue })::text[],
                            \(column { $0.order.timeInForce.rawValue })::text[], \(column { $0.order.product.rawValue })::text[],
                            \(column { $0.quantity })::numeric[], \(column { $0.order.limitPrice })::numeric[], \(column { $0.order.triggerPrice })::numeric[],
                            \(column { $0.state.rawValue })::text[], \(column { $0.requestedPrice })::numeric[], \(column { $0.riskDecision.text })::jsonb[],
                            \(column { $0.route?.text })::jsonb[], \(column { $0.rejectCode })::text[], \(column { $0.rejectReason })::text[],
                            \(column { $0.submittedAt })::timestamptz[], \(PostgresData.array(rows.map(\.token)))::bigint[],
                            \(column { $0.state.isTerminal })::boolean[])
                     AS v (id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol,
                           exchange, side, order_type, time_in_force, product, quantity, price, trigger_price, state, requested_price,
                           risk_decision, route, reject_code, reject_reason, submitted_at, fencing_token, terminal)
                ON CONFLICT (idempotency_key) DO NOTHING RETURNING \(fragment: OrderRecord.columns)
                """
        }

        static func updateStatement(_ moves: [(move: OrderMove, token: Int64?)]) -> PostgresQuery {
            "\(fragment: OrderStore.updateSet) FROM \(fragment: moves.count == 1 ? oneMove(moves[0]) : manyMoves(moves)) \(fragment: OrderStore.updateWhere)"
        }

        static func manyMoves(_ moves: [(move: OrderMove, token: Int64?)]) -> PostgresQuery {
            func column<T: PostgresEncodable>(_ value: (OrderMove) -> T) -> PostgresData { .array(moves.map { value($0.move) }) }
            return """
                unnest(\(column { $0.order.id })::uuid[], \(column { $0.order.state.rawValue })::text[], \(column { Int32($0.order.version) })::integer[],
                       \(column { $0.to.rawValue })::text[], \(column { $0.changes.brokerOrderID })::text[],
                       \(column { $0.changes.filledQuantity })::numeric[], \(column { $0.changes.averagePrice })::numeric[],
                       \(column { $0.changes.rejectCode })::text[], \(column { $0.changes.rejectReason })::text[],
                       \(column { $0.changes.unknownReason })::text[], \(column { $0.changes.nextLookupAt })::timestamptz[],
                       \(column { $0.changes.submittedAt })::timestamptz[], \(column { $0.changes.lookedUp })::boolean[],
                       \(column { $0.changes.quantity })::numeric[], \(column { $0.changes.limitPrice })::numeric[],
                       \(column { $0.changes.triggerPrice })::numeric[], \(column { $0.changes.clientOrderID })::text[],
                       \(column { $0.to.isTerminal })::boolean[], \(PostgresData.array(moves.map(\.token)))::bigint[])
                """
        }

        static func oneMove(_ one: (move: OrderMove, token: Int64?)) -> PostgresQuery {
            // Fixed text: built once, not per call (`LoneWrite.moveValues`).
            PostgresQuery(unsafeSQL: LoneWrite.moveValues, binds: LoneWrite.moveBinds(one.move, token: one.token))
        }

        /// An order's steps in `order_events` rows of up to three, a step joining the row before when
        /// it moves from the state that row reached (migration 0055); the statement of the rows'
        /// shape: all of one number of steps, or mixed (every row three steps' columns).
        static func eventWrites(_ orders: [EventRows.Order], of filter: PostgresQuery) -> PostgresQuery {
            var rows: [(id: UUID, steps: [(from: String?, to: String, detail: String?, payload: String)])] = []
            for order in orders {
                for step in OrderEventPayloadTests.reference(order) {
                    if let row = rows.last, row.id == order.id, row.steps.count < 3, row.steps.last?.to == step.from {
                        rows[rows.count - 1].steps.append(step)
                    } else {
                        rows.append((order.id, [step]))
                    }
                }
            }
            let counts = Set(rows.map(\.steps.count)), shape = counts.count > 1 ? 0 : counts.first ?? 1, steps = shape == 0 ? 3 : shape
            var arrays: PostgresQuery = "\(PostgresData.array(rows.map(\.id)))::uuid[], \(PostgresData.array(rows.map(\.steps[0].from)))::text[]"
            for k in 0..<steps {
                let to = PostgresData.array(rows.map { k < $0.steps.count ? $0.steps[k].to : nil })
                let detail = PostgresData.array(rows.map { k < $0.steps.count ? $0.steps[k].detail : nil })
                let payload = PostgresData.array(rows.map { k < $0.steps.count ? $0.steps[k].payload : nil })
                arrays = "\(fragment: arrays),\n        \(to)::text[], \(detail)::jsonb[], \(payload)::text[]"
            }
            return """
                steps AS (
                    SELECT nextval('order_events_id_seq') AS id, s.*
                    FROM (SELECT * FROM unnest(\(fragment: arrays))
                              WITH ORDINALITY AS s (\(fragment: PostgresQuery(unsafeSQL: OrderStore.stepColumns(steps))), n)
                          \(fragment: filter) ORDER BY s.n) s),
                \(fragment: PostgresQuery(unsafeSQL: OrderStore.eventInserts(shape: shape)))
                """
        }


        static func withEvents(_ statement: PostgresQuery, events orders: [EventRows.Order]) -> PostgresQuery {
            """
                WITH written AS (\(fragment: statement)),
                \(fragment: eventWrites(orders, of: "WHERE s.order_id IN (SELECT written.id FROM written)"))
                SELECT * FROM written
                """
        }
    }

    static func newRow(_ n: Int, state: OrderState) -> NewOrder {
        let account = UUID()
        let steps: [(to: OrderState, detail: JSONValue?)] = state == .submitting
            ? [(.routed, .object([("broker", "kite"), ("note", .string("n\"\(n)\t"))])), (.submitting, nil)] : [(.routed, nil)]
        return NewOrder(id: UUID(), userID: UUID(), accountID: account, requestedAccountID: account, parentID: n % 2 == 0 ? nil : UUID(),
                        order: PlaceOrder(idempotencyKey: "key-\(n)-\"q\"", accountID: account, symbol: n % 3 == 0 ? "NIFTY 25JAN" : "INFY", exchange: "NSE",
                                          side: n % 2 == 0 ? .buy : .sell, quantity: Decimal(n + 1), type: .limit, limitPrice: Decimal(string: "101.35"),
                                          triggerPrice: Decimal(string: "99.\(n)5")),
                        quantity: Decimal(n + 1), clientOrderID: "c{\(n)},\\", state: state, requestedPrice: n % 2 == 0 ? nil : Decimal(string: "0.05"),
                        riskDecision: .object([("passed", true), ("limit", .number("1e6"))]), route: n % 2 == 0 ? .object([("broker", "kite")]) : nil,
                        rejectCode: "RC\(n)", rejectReason: "reason \(n)", submittedAt: state == .submitting ? Date(timeIntervalSince1970: 1_800_000_000.123456 + Double(n)) : nil,
                        steps: steps)
    }

    /// `count` SUBMITTING records as `OrderRecord(row:)` reads them (from a literal row: no table).
    static func records(_ count: Int) throws -> [OrderRecord] {
        let database = try TestDatabase(migrated: false, prefix: "tm_batchsql")
        defer { database.drop() }
        let db = try database.connect()
        defer { db.close() }
        return try db.query("""
            SELECT gen_random_uuid() AS id, gen_random_uuid() AS user_id, gen_random_uuid() AS account_id, NULL::uuid AS requested_account_id,
                   NULL::uuid AS parent_order_id, 'm-' || n AS idempotency_key, 'cm-' || n AS client_order_id, 'INFY' AS symbol, 'NSE' AS exchange,
                   'buy' AS side, 'limit' AS order_type, 'day' AS time_in_force, 'delivery' AS product, 10::numeric AS quantity,
                   100.5::numeric AS price, NULL::numeric AS trigger_price, 'SUBMITTING' AS state, NULL::text AS broker_order_id,
                   0::numeric AS filled_quantity, NULL::numeric AS average_price, NULL::numeric AS requested_price, now() AS created_at,
                   NULL::timestamptz AS submitted_at, 1::int4 AS submit_attempts, 0::int4 AS lookup_attempts, (n + 3)::int4 AS version,
                   false AS split_parent
            FROM generate_series(0, \(count - 1)) AS n ORDER BY n
            """).rows.map(OrderRecord.init(row:))
    }

    static func move(_ n: Int, _ record: OrderRecord) -> OrderMove {
        // Every field set and distinct from the others of its type, so that two columns swapped give
        // different binds (a column all NULL would hide a swap).
        var changes = OrderChanges(brokerOrderID: "b-\(n)")
        if n % 2 == 1 { (changes.filledQuantity, changes.averagePrice, changes.lookedUp) = (Decimal(n), Decimal(string: "99.5"), true) }
        (changes.rejectCode, changes.rejectReason, changes.unknownReason, changes.clientOrderID) = ("RC\(n)", "reason \(n)", "unknown \(n)", "cid-\(n)")
        (changes.nextLookupAt, changes.submittedAt) = (Date(timeIntervalSince1970: 1_800_000_100 + Double(n)), Date(timeIntervalSince1970: 1_800_000_200 + Double(n)))
        (changes.quantity, changes.limitPrice, changes.triggerPrice) = (Decimal(1000 + n), Decimal(string: "201.\(n)5"), Decimal(string: "301.\(n)5"))
        return OrderMove(order: record, to: n % 3 == 2 ? .partiallyFilled : .accepted, changes: changes, detail: n % 2 == 0 ? nil : .object([("n", .number("\(n)"))]))
    }

    static func expectSame(_ new: PostgresQuery, _ old: PostgresQuery) {
        #expect(Array(new.sql.utf8) == Array(old.sql.utf8), "SQL text differs:\n\(new.sql)\n---\n\(old.sql)")
        // The uuid, text, jsonb, bigint, integer and boolean arrays go in binary format (session 33):
        // compared as the text array of the same elements (the server's equality is PostgresArrayBinaryTests').
        #expect(new.binds.map(Self.asText) == old.binds, "binds differ")
        #expect(new.binds.contains { $0.type.isBinary })
        #expect(new.isPrepared && new.binds.count == old.binds.count)
    }

    /// A binary array parameter (`PostgresArrayBinary`) as the text array literal of its elements
    /// (`.array` of the same values); any other parameter as it is.
    static func asText(_ data: PostgresData) -> PostgresData {
        guard data.type.isBinary, let bytes = data.bytes else { return data }
        func int(_ at: Int, _ width: Int) -> Int64 {
            var value: Int64 = Int64(Int8(bitPattern: bytes[at]))
            for k in 1..<width { value = value << 8 | Int64(bytes[at + k]) }
            return value
        }
        var elements: [PostgresData?] = [], at = 20
        for _ in 0..<Int(int(12, 4)) {
            let length = Int(int(at, 4)); at += 4
            guard length >= 0 else { elements.append(nil); continue }
            let element = Array(bytes[at..<at + length]); at += length
            let text: String
            switch data.type {
            case .uuidArray: text = UUID(uuid: element.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) }).uuidString.lowercased()
            case .jsonbArray: text = String(decoding: element.dropFirst(), as: UTF8.self)
            case .int8Array: text = String(int(at - 8, 8))
            case .int4Array: text = String(int(at - 4, 4))
            case .boolArray: text = element == [1] ? "t" : "f"
            default: text = String(decoding: element, as: UTF8.self)
            }
            elements.append(PostgresData(type: .unknown, text: text))
        }
        return PostgresData.array(elements)
    }

    @Test func theBatchInsertIsTheInterpolatedStatementByteForByte() {
        for count in [1, 2, 5] {
            let rows = (0..<count).map { (row: Self.newRow($0, state: $0 % 2 == 0 ? .submitting : .routed), token: $0 == 1 ? nil : Int64(7 + $0)) }
            let events = rows.map { OrderStore.newRowEvents($0.row) }
            let columns = OrderStore.eventColumns(events)
            let new = OrderStore.insertsWithEvents[columns.shape].query(OrderStore.insertColumns(rows) + columns.columns)
            Self.expectSame(new, Reference.withEvents(Reference.insertStatement(rows), events: events))
        }
    }

    @Test func theBatchUpdatesOfOneAndOfManyMovesAreTheInterpolatedStatementsByteForByte() throws {
        let records = try Self.records(4)
        for count in [1, 2, 4] {
            let moves = (0..<count).map { (move: Self.move($0, records[$0]), token: $0 == 2 ? nil : Int64(11 + $0)) }
            let events = moves.compactMap { OrderStore.moveEvents($0.move) }
            let statement = count == 1 ? OrderStore.oneMoveWithEvents : OrderStore.manyMovesWithEvents
            let columns = OrderStore.eventColumns(events)
            let new = statement[columns.shape].query(OrderStore.moveValues(moves) + columns.columns)
            Self.expectSame(new, Reference.withEvents(Reference.updateStatement(moves), events: events))
        }
    }

    @Test func aFixedStatementsTextIsBuiltOnceAndItsValuesGoWhereTheyWereInterpolated() {
        #expect(OrderStore.insertsWithEvents.map(\.count) == [36, 30, 33, 36] && OrderStore.oneMoveWithEvents.map(\.count) == [30, 24, 27, 30]
                && OrderStore.manyMovesWithEvents.map(\.count) == [30, 24, 27, 30])
        let fixed = FixedStatement(binds: 2) { c in "SELECT \(c[0])::int, \(c[1])::text" }
        let query = fixed.query([Int64(5).postgresData(), "x".postgresData()])
        #expect(query.sql == "SELECT $1::int, $2::text" && query.binds == [Int64(5).postgresData(), "x".postgresData()] && query.isPrepared)
    }

    /// A template that puts its values anywhere but once each in order is a bug, stopped when its
    /// text is built (at first use), before any statement runs with values in the wrong places.
    @Test func aTemplateThatReordersOrSkipsItsValuesIsRefused() async {
        await #expect(processExitsWith: .failure) {
            _ = FixedStatement(binds: 2) { c in "SELECT \(c[1])::int, \(c[0])::text" }
        }
        await #expect(processExitsWith: .failure) {
            _ = FixedStatement(binds: 2) { c in "SELECT \(c[0])::int" }
        }
    }
}
