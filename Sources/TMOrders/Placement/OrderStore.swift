import Foundation
import TMBrokers
import TMCore
import TMNotify
import TMPostgres
import TMSync

/// A new order row, written in the state the in-memory steps reached (RISK_REJECTED, ROUTED or
/// SUBMITTING) with an event for every step from RECEIVED: the risk check and the routing touch
/// nothing outside the process, so the first commit can carry them all.
///
/// Its JSON values are encoded once, when it is made (`riskDecisionText`, `routeText`): a write
/// retried, or a split's rows sharing them, does not encode them again, and the ROUTED step whose
/// detail is the route reuses the route's text (`routedStep`).
struct NewOrder: Sendable {
    var id: UUID
    var userID: UUID
    var accountID: UUID
    var requestedAccountID: UUID
    var parentID: UUID?
    var order: PlaceOrder
    var quantity: Decimal
    var clientOrderID: String
    var state: OrderState
    var requestedPrice: Decimal?
    let riskDecision: JSONValue
    let route: JSONValue?
    var rejectCode: String?
    var rejectReason: String?
    /// When the broker call begins (SUBMITTING rows).
    var submittedAt: Date?
    /// The steps from RECEIVED to `state`, each with its detail.
    let steps: [(to: OrderState, detail: JSONValue?)]
    /// `riskDecision.text` and `route?.text`, encoded once.
    let riskDecisionText: String
    let routeText: String?
    /// The index in `steps` of the ROUTED step whose detail is `route` (a routed row's): its
    /// `order_events.detail` is left NULL — it would repeat the row's `route` byte for byte, which
    /// nothing updates — and readers take the row's (`order_event_details`, migration 0047); its
    /// message carries the route as before.
    let routedStep: Int?

    init(id: UUID, userID: UUID, accountID: UUID, requestedAccountID: UUID, parentID: UUID?, order: PlaceOrder, quantity: Decimal,
         clientOrderID: String, state: OrderState, requestedPrice: Decimal?, riskDecision: JSONValue, route: JSONValue?,
         rejectCode: String?, rejectReason: String?, submittedAt: Date?, steps: [(to: OrderState, detail: JSONValue?)]) {
        (self.id, self.userID, self.accountID, self.requestedAccountID, self.parentID) = (id, userID, accountID, requestedAccountID, parentID)
        (self.order, self.quantity, self.clientOrderID, self.state, self.requestedPrice) = (order, quantity, clientOrderID, state, requestedPrice)
        (self.riskDecision, self.route, self.rejectCode, self.rejectReason) = (riskDecision, route, rejectCode, rejectReason)
        (self.submittedAt, self.steps) = (submittedAt, steps)
        riskDecisionText = riskDecision.text
        routeText = route?.text
        // The placer hands the route itself as the ROUTED step's detail, so this compares one array
        // buffer with itself.
        routedStep = route == nil ? nil : steps.firstIndex { $0.to == .routed && $0.detail == route }
    }

    /// `requested_account_id` as stored: NULL when the order was asked for the account it is placed
    /// on, which spares the insert that foreign key's check (`account_id`'s own FK still refuses an
    /// unknown account); every reader takes `requested_account_id ?? account_id`.
    var requestedAccountColumn: UUID? { requestedAccountID == accountID ? nil : requestedAccountID }
}

/// What a transition writes besides the state (nil leaves a column as it is).
struct OrderChanges: Sendable {
    var brokerOrderID: String?
    var filledQuantity: Decimal?
    var averagePrice: Decimal?
    var rejectCode: String?
    var rejectReason: String?
    var unknownReason: String?
    var nextLookupAt: Date?
    /// A new broker call begins at this time: `submitted_at` set, `submit_attempts` + 1.
    var submittedAt: Date?
    /// A look-up was made: `lookup_attempts` + 1.
    var lookedUp = false
    var quantity: Decimal?
    var limitPrice: Decimal?
    var triggerPrice: Decimal?
    var clientOrderID: String?
}

/// Every write of the order path to `orders`, `order_events`, the `trade-events` outbox and the
/// user's notifications. (Its UPDATE writes the row's stamps itself — `updated_at`, acceptance and fill
/// times, the slippage: `OrderRowStamps`, migration 0045; a new row's are the `orders_stamp_inserted`
/// trigger's, 0036, its condition tested in its function since 0052.)
///
/// Guarantees: a transition is a compare-and-set on the row's state (`WHERE state = from`), so of
/// two writers that read the same state — a redelivery and a sync, an old and a new shard owner —
/// exactly one moves it, and the loser re-reads; every state change appends its step to
/// `order_events` — its own id, rising per order; a new row's steps share one row (`eventRows`,
/// migration 0055), read one line a step in `order_event_details` — and its `trade-events` message
/// keyed by that id (in the transaction's one outbox row, committed with it); a
/// move to RISK_REJECTED or REJECTED also writes the user's `trade_execution_failed` notification,
/// once per order, and a risk denial its `audit_log` row. Callers run these inside the fenced
/// transaction of their delivery (and shard lease), so a writer that
/// lost its message or shard commits nothing.
enum OrderStore {
    static func load(_ db: PostgresConnection, id: UUID) throws -> OrderRecord? {
        try db.query(kept("SELECT \(fragment: OrderRecord.columns) FROM orders WHERE id = \(id)")).rows.first.map(OrderRecord.init(row:))
    }

    static func load(_ db: PostgresConnection, idempotencyKey: String) throws -> OrderRecord? {
        try db.query(kept("SELECT \(fragment: OrderRecord.columns) FROM orders WHERE idempotency_key = \(idempotencyKey)")).rows.first
            .map(OrderRecord.init(row:))
    }

    static func children(_ db: PostgresConnection, of parent: UUID) throws -> [OrderRecord] {
        try db.query("SELECT \(fragment: OrderRecord.columns) FROM orders WHERE parent_order_id = \(parent) ORDER BY idempotency_key").rows
            .map(OrderRecord.init(row:))
    }

    // MARK: Writes, merged

    /// Runs writes of many orders (a group commit's batch, or one write alone) in the caller's
    /// fenced transaction, in a few statements whatever their number: one INSERT of every new row,
    /// one UPDATE of every transition, one statement for all their events and outbox messages; the
    /// rare audit and notification rows of refusals one by one. Returns one `OrderWritten` per write,
    /// in order. Throws `InsertRace` when a multi-row insert (a split) found only part of its keys
    /// free: the caller rolls back and continues from the rows that took them.
    ///
    /// Round trips: a batch of plain writes (one new row without a refusal, or a transition that is
    /// not a broker refusal) only SENDS its statements — each INSERT or UPDATE with its events and
    /// outbox row in one statement (`sendWithEvents`) — so they travel with the COMMIT in one round
    /// trip, and the outputs are read once committed (the returned closure). A batch holding a
    /// split, a risk denial or a broker refusal needs answers before it commits (a partly free split
    /// rolls back; refusals write their audit and notification rows only for rows written): it runs
    /// its statements one answer at a time (`performAnswered`).
    static func perform(_ db: PostgresConnection, _ writes: [OrderWrite]) throws -> @Sendable () throws -> [OrderWritten] {
        guard writes.allSatisfy(\.answeredAfterCommit) else {
            let written = try performAnswered(db, writes)
            return { written }
        }
        if writes.count == 1, let lone = try LoneWrite.send(db, writes[0]) {
            return { [OrderWritten(record: try lone())] }
        }
        let inserts = writes.enumerated().compactMap { index, write -> (index: Int, row: NewOrder, token: Int64?)? in
            guard case .insert(let rows) = write.kind else { return nil }
            return (index, rows[0], write.fencingToken)
        }
        let moves = writes.enumerated().compactMap { index, write -> (index: Int, move: OrderMove, token: Int64?)? in
            guard case .move(let move) = write.kind else { return nil }
            move.requireLegal()
            return (index, move, write.fencingToken)
        }
        var inserted: (@Sendable () throws -> [UUID: OrderRecord])?, moved: (@Sendable () throws -> [UUID: OrderRecord])?
        if !inserts.isEmpty {
            let events = eventColumns(inserts.map { newRowEvents($0.row) })
            inserted = try sendWithEvents(db, insertsWithEvents[events.shape].query(insertColumns(inserts.map { ($0.row, $0.token) }) + events.columns))
        }
        if !moves.isEmpty {
            let events = eventColumns(moves.compactMap { moveEvents($0.move) })
            moved = try sendWithEvents(db, (moves.count == 1 ? oneMoveWithEvents : manyMovesWithEvents)[events.shape].query(
                moveValues(moves.map { ($0.move, $0.token) }) + events.columns))
        }
        return { [inserted, moved] in
            var results = Array(repeating: OrderWritten(), count: writes.count)
            if let inserted {
                let rows = try inserted()
                for insert in inserts { results[insert.index].record = rows[insert.row.id] }
            }
            if let moved {
                let rows = try moved()
                for move in moves { results[move.index].record = rows[move.move.order.id] }
            }
            return results
        }
    }

    /// `perform`, each statement's answer read before the next is sent (see `perform`).
    private static func performAnswered(_ db: PostgresConnection, _ writes: [OrderWrite]) throws -> [OrderWritten] {
        var results = Array(repeating: OrderWritten(), count: writes.count)
        var events: [EventRows.Order] = []
        // New rows, all in one statement; each write gets its first row (nil: the key was taken).
        let newRows = writes.enumerated().flatMap { index, write -> [(index: Int, row: NewOrder, token: Int64?)] in
            guard case .insert(let rows) = write.kind else { return [] }
            return rows.map { (index, $0, write.fencingToken) }
        }
        if !newRows.isEmpty {
            let inserted = try insertRows(db, newRows.map { ($0.row, $0.token) })
            for (index, write) in writes.enumerated() {
                guard case .insert(let rows) = write.kind else { continue }
                let written = rows.map { inserted[$0.id] }
                if written.allSatisfy({ $0 == nil }) { continue }
                // Only the first row can collide (children keys derive from the parent's): part of
                // a split written means its parent's key was taken meanwhile.
                guard written.allSatisfy({ $0 != nil }) else { throw InsertRace() }
                results[index].record = written[0]
                for row in rows {
                    events.append(newRowEvents(row))
                    if row.state == .riskRejected {
                        try auditDenial(db, row)
                        if let id = try notifyFailure(db, orderID: row.id, userID: row.userID, accountID: row.accountID, key: row.order.idempotencyKey,
                                                      code: row.rejectCode ?? "RISK_REJECTED", reason: row.rejectReason ?? "refused by the risk engine") {
                            results[index].notified.append(id)
                        }
                    }
                }
            }
        }
        // Transitions, all in one statement: a compare-and-set each (nil: the row moved on).
        let moves = writes.enumerated().compactMap { index, write -> (index: Int, move: OrderMove, token: Int64?)? in
            guard case .move(let move) = write.kind else { return nil }
            move.requireLegal()
            return (index, move, write.fencingToken)
        }
        if !moves.isEmpty {
            let moved = try updateRows(db, moves.map { ($0.move, $0.token) })
            for (index, move, _) in moves {
                guard let row = moved[move.order.id] else { continue }
                results[index].record = row
                let order = move.order, changes = move.changes
                if var moved = moveEvents(move) {
                    (moved.filled, moved.average) = (row.filledQuantity, row.averagePrice)
                    events.append(moved)
                }
                if move.to == .rejected && order.state != .rejected,
                   let id = try notifyFailure(db, orderID: order.id, userID: order.userID, accountID: order.accountID, key: order.idempotencyKey,
                                              code: changes.rejectCode ?? "BROKER_REJECTED", reason: changes.rejectReason ?? "refused by the broker") {
                    results[index].notified.append(id)
                }
            }
        }
        try record(db, events)
        return results
    }

    /// Inserts the rows whose idempotency key is free; returns those written, by id.
    private static func insertRows(_ db: PostgresConnection, _ rows: [(row: NewOrder, token: Int64?)]) throws -> [UUID: OrderRecord] {
        try byID(try db.query(kept(insertStatement(insertColumns(rows)))))
    }

    /// The rows of a statement returning `OrderRecord.columns`, by id.
    static func byID(_ result: PostgresResult) throws -> [UUID: OrderRecord] {
        Dictionary(try result.rows.map { row in let record = try OrderRecord(row: row); return (record.id, record) }, uniquingKeysWith: { first, _ in first })
    }

    /// The INSERT of new rows whose key is free, returning those written: its 25 values are
    /// `insertColumns`' arrays, interpolated in their order (`FixedStatement` checks it).
    private static func insertStatement(_ c: [PostgresData]) -> PostgresQuery {
        """
            \(fragment: insertInto)
            SELECT id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol,
                   exchange, side, order_type, time_in_force, product, quantity, price, trigger_price, state, requested_price,
                   risk_decision, route, reject_code, reject_reason, submitted_at, CASE WHEN submitted_at IS NULL THEN 0 ELSE 1 END,
                   fencing_token, CASE WHEN terminal THEN now() END
            FROM unnest(\(c[0])::uuid[], \(c[1])::uuid[], \(c[2])::uuid[],
                        \(c[3])::uuid[], \(c[4])::uuid[], \(c[5])::text[],
                        \(c[6])::text[], \(c[7])::text[], \(c[8])::text[],
                        \(c[9])::text[], \(c[10])::text[],
                        \(c[11])::text[], \(c[12])::text[],
                        \(c[13])::numeric[], \(c[14])::numeric[], \(c[15])::numeric[],
                        \(c[16])::text[], \(c[17])::numeric[], \(c[18])::jsonb[],
                        \(c[19])::jsonb[], \(c[20])::text[], \(c[21])::text[],
                        \(c[22])::timestamptz[], \(c[23])::bigint[],
                        \(c[24])::boolean[])
                 AS v (id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol,
                       exchange, side, order_type, time_in_force, product, quantity, price, trigger_price, state, requested_price,
                       risk_decision, route, reject_code, reject_reason, submitted_at, fencing_token, terminal)
            ON CONFLICT (idempotency_key) DO NOTHING RETURNING \(fragment: OrderRecord.columns)
            """
    }

    /// `insertStatement`'s values: a column of the rows per array, in its order. The uuid, text,
    /// jsonb, bigint and boolean arrays travel in binary format (`PostgresArrayBinary`: the server
    /// reads each element's bytes instead of parsing the array's text, ~−110k instructions an order in
    /// a batch, Benchmarks/OrderBench/PROFILE.md, session 33 (pgbatch)); numeric and timestamptz in text.
    static func insertColumns(_ rows: [(row: NewOrder, token: Int64?)]) -> [PostgresData] {
        func column<T: PostgresEncodable>(_ value: (NewOrder) -> T) -> PostgresData { .array(rows.map { value($0.row) }) }
        func ids(_ value: (NewOrder) -> UUID?) -> PostgresData { .binaryArray(rows.map { value($0.row) }) }
        func text(_ value: (NewOrder) -> String?) -> PostgresData { .binaryArray(text: rows.map { value($0.row) }) }
        return [ids { $0.id }, ids { $0.userID }, ids { $0.accountID },
                ids { $0.requestedAccountColumn }, ids { $0.parentID }, text { $0.order.idempotencyKey },
                text { $0.clientOrderID }, text { $0.order.symbol }, text { $0.order.exchange },
                text { $0.order.side.rawValue }, text { $0.order.type.rawValue },
                text { $0.order.timeInForce.rawValue }, text { $0.order.product.rawValue },
                column { $0.quantity }, column { $0.order.limitPrice }, column { $0.order.triggerPrice },
                text { $0.state.rawValue }, column { $0.requestedPrice }, .binaryArray(jsonb: rows.map { $0.row.riskDecisionText }),
                .binaryArray(jsonb: rows.map { $0.row.routeText }), text { $0.rejectCode }, text { $0.rejectReason },
                column { $0.submittedAt }, .binaryArray(rows.map { $0.token }),
                .binaryArray(rows.map { Optional($0.row.state.isTerminal) })]
    }

    /// The columns every new row is written with (`insertStatement`, `LoneWrite`).
    static let insertInto: PostgresQuery = """
            INSERT INTO orders (id, user_id, account_id, requested_account_id, parent_order_id, idempotency_key, client_order_id, symbol,
                                exchange, side, order_type, time_in_force, product, quantity, price, trigger_price, state, requested_price,
                                risk_decision, route, reject_code, reject_reason, submitted_at, submit_attempts, fencing_token, completed_at)
            """

    /// Applies each move whose row is still in the state and version it was read in; returns the
    /// rows moved, by id.
    private static func updateRows(_ db: PostgresConnection, _ moves: [(move: OrderMove, token: Int64?)]) throws -> [UUID: OrderRecord] {
        try byID(try db.query(kept(updateStatement(moves.count == 1 ? oneMove(moveValues(moves)) : manyMoves(moveColumns(moves))))))
    }

    /// The compare-and-set UPDATE of each move, returning the rows moved: `values` is `oneMove` or `manyMoves`.
    private static func updateStatement(_ values: PostgresQuery) -> PostgresQuery {
        "\(fragment: updateSet) FROM \(fragment: values) \(fragment: updateWhere)"
    }

    /// The SET of `updateStatement` (its values come FROM `v`, `updateWhere`'s columns), with the row's
    /// stamps (`OrderRowStamps`, over the state, fill and average it assigns: 0045 dropped the trigger).
    static let updateSet: PostgresQuery = """
            UPDATE orders SET state = v_to_state,
              broker_order_id = coalesce(v_broker_order_id, broker_order_id),
              filled_quantity = coalesce(v_filled_quantity, filled_quantity), average_price = coalesce(v_average_price, average_price),
              reject_code = coalesce(v_reject_code, reject_code), reject_reason = coalesce(v_reject_reason, reject_reason),
              unknown_reason = CASE WHEN v_to_state = 'UNKNOWN' THEN coalesce(v_unknown_reason, unknown_reason) ELSE unknown_reason END,
              next_lookup_at = v_next_lookup_at,
              submitted_at = coalesce(v_submitted_at, submitted_at),
              submit_attempts = submit_attempts + CASE WHEN v_submitted_at IS NULL THEN 0 ELSE 1 END,
              lookup_attempts = lookup_attempts + CASE WHEN v_looked_up THEN 1 ELSE 0 END,
              quantity = coalesce(v_quantity, quantity), price = coalesce(v_limit_price, price),
              trigger_price = coalesce(v_trigger_price, trigger_price), client_order_id = coalesce(v_client_order_id, client_order_id),
              completed_at = CASE WHEN v_terminal THEN coalesce(completed_at, now()) ELSE completed_at END,
              fencing_token = coalesce(v_fencing_token, fencing_token), version = version + 1,
              \(fragment: OrderRowStamps.assignments(state: "v_to_state", filled: "coalesce(v_filled_quantity, filled_quantity)",
                                                     average: "coalesce(v_average_price, average_price)"))
            """

    /// The compare-and-set of `updateStatement`: `v`'s columns, each move's row in the state and
    /// version it was read in, returning the rows moved.
    static let updateWhere: PostgresQuery = """
                 AS v (v_id, v_from_state, v_from_version, v_to_state, v_broker_order_id, v_filled_quantity, v_average_price, v_reject_code,
                       v_reject_reason, v_unknown_reason, v_next_lookup_at, v_submitted_at, v_looked_up, v_quantity, v_limit_price,
                       v_trigger_price, v_client_order_id, v_terminal, v_fencing_token)
            WHERE id = v_id AND state = v_from_state AND version = v_from_version
            RETURNING \(fragment: OrderRecord.columns)
            """

    /// The moves' values, a column per array (`updateStatement`'s `v`): `moveValues`' 19 arrays, in
    /// their order.
    private static func manyMoves(_ c: [PostgresData]) -> PostgresQuery {
        """
            unnest(\(c[0])::uuid[], \(c[1])::text[], \(c[2])::integer[],
                   \(c[3])::text[], \(c[4])::text[],
                   \(c[5])::numeric[], \(c[6])::numeric[],
                   \(c[7])::text[], \(c[8])::text[],
                   \(c[9])::text[], \(c[10])::timestamptz[],
                   \(c[11])::timestamptz[], \(c[12])::boolean[],
                   \(c[13])::numeric[], \(c[14])::numeric[],
                   \(c[15])::numeric[], \(c[16])::text[],
                   \(c[17])::boolean[], \(c[18])::bigint[])
            """
    }

    /// One move's values as one row of scalars (`updateStatement`'s `v`): the lone order's UPDATE. Its
    /// generic plan costs what a custom plan does (one row, found by the primary key), so Postgres's
    /// plan cache keeps it after the first few runs; with arrays the generic plan is costed for ten
    /// rows, and every run of a one-move UPDATE was planned anew (Benchmarks/OrderBench/PROFILE.md,
    /// session 21). Fixed text: `LoneWrite.moveValues`.
    private static func oneMove(_ c: [PostgresData]) -> PostgresQuery {
        PostgresQuery(unsafeSQL: LoneWrite.moveValues, binds: c)
    }

    /// The values of `moves` for `updateStatement`: one move's 19 scalars (`oneMove`), or more
    /// moves' 19 arrays (`moveColumns`, for `manyMoves`), in the same order.
    static func moveValues(_ moves: [(move: OrderMove, token: Int64?)]) -> [PostgresData] {
        moves.count == 1 ? LoneWrite.moveBinds(moves[0].move, token: moves[0].token) : moveColumns(moves)
    }

    /// `manyMoves`' 19 arrays: a column of the moves per array, in its order (binary but the numeric
    /// and timestamptz arrays, as `insertColumns`).
    static func moveColumns(_ moves: [(move: OrderMove, token: Int64?)]) -> [PostgresData] {
        func column<T: PostgresEncodable>(_ value: (OrderMove) -> T) -> PostgresData { .array(moves.map { value($0.move) }) }
        func text(_ value: (OrderMove) -> String?) -> PostgresData { .binaryArray(text: moves.map { value($0.move) }) }
        func flag(_ value: (OrderMove) -> Bool?) -> PostgresData { .binaryArray(moves.map { value($0.move) }) }
        return [.binaryArray(moves.map { Optional($0.move.order.id) }), text { $0.order.state.rawValue },
                .binaryArray(moves.map { Optional(Int32($0.move.order.version)) }),
                text { $0.to.rawValue }, text { $0.changes.brokerOrderID },
                column { $0.changes.filledQuantity }, column { $0.changes.averagePrice },
                text { $0.changes.rejectCode }, text { $0.changes.rejectReason },
                text { $0.changes.unknownReason }, column { $0.changes.nextLookupAt },
                column { $0.changes.submittedAt }, flag { $0.changes.lookedUp },
                column { $0.changes.quantity }, column { $0.changes.limitPrice },
                column { $0.changes.triggerPrice }, text { $0.changes.clientOrderID },
                flag { $0.to.isTerminal }, .binaryArray(moves.map { $0.token })]
    }

    /// The events of a new row: every step from RECEIVED.
    static func newRowEvents(_ row: NewOrder) -> EventRows.Order {
        var steps: [EventRows.Step] = [(nil, .received, nil)]
        for step in row.steps { steps.append((steps.last?.to, step.to, step.detail)) }
        var events = EventRows.Order(id: row.id, accountID: row.accountID, userID: row.userID, key: row.order.idempotencyKey,
                                     clientOrderID: row.clientOrderID, symbol: row.order.symbol, exchange: row.order.exchange,
                                     side: row.order.side, filled: 0, average: nil, steps: steps)
        if let routed = row.routedStep, let text = row.routeText { events.rowsRoute = (step: routed + 1, text: text) }
        return events
    }

    /// The event of a transition, if it changes anything worth announcing. Its fill is the row's once
    /// moved: the compare-and-set on the version means the row is the one read, and every writer of
    /// `orders` raises the version.
    static func moveEvents(_ move: OrderMove) -> EventRows.Order? {
        let order = move.order, changes = move.changes
        guard move.to != order.state || move.detail != nil || changes.filledQuantity.map({ $0 != order.filledQuantity }) == true else { return nil }
        return EventRows.Order(id: order.id, accountID: order.accountID, userID: order.userID, key: order.idempotencyKey,
                               clientOrderID: changes.clientOrderID ?? order.clientOrderID, symbol: order.symbol,
                               exchange: order.exchange, side: order.side, filled: changes.filledQuantity ?? order.filledQuantity,
                               average: changes.averagePrice ?? order.averagePrice, steps: [(order.state, move.to, move.detail)])
    }

    /// Builds every fixed statement now (each is built once, when first used): a template that
    /// breaks `FixedStatement`'s rule traps here, at start-up, not in a live batch's transaction.
    static func buildStatements() {
        _ = (insertsWithEvents.map(\.count), oneMoveWithEvents.map(\.count), manyMovesWithEvents.map(\.count))
    }

    /// The batch's INSERT with its rows' events, by the events' shape (`EventColumns.shape`):
    /// `insertColumns`, then `eventColumns`.
    static let insertsWithEvents = (0...stepsPerEventRow).map { shape in
        FixedStatement(binds: 25 + EventColumns.count(shape)) { c in
            withEvents(insertStatement(Array(c[..<25])), events: Array(c[25...]), shape: shape)
        }
    }

    /// The batch's UPDATE of one move with its event, by shape: `moveValues` (scalars), then `eventColumns`.
    static let oneMoveWithEvents = (0...stepsPerEventRow).map { shape in
        FixedStatement(binds: 19 + EventColumns.count(shape)) { c in
            withEvents(updateStatement(oneMove(Array(c[..<19]))), events: Array(c[19...]), shape: shape)
        }
    }

    /// The batch's UPDATE of several moves with their events, by shape: `moveValues` (arrays), then `eventColumns`.
    static let manyMovesWithEvents = (0...stepsPerEventRow).map { shape in
        FixedStatement(binds: 19 + EventColumns.count(shape)) { c in
            withEvents(updateStatement(manyMoves(Array(c[..<19]))), events: Array(c[19...]), shape: shape)
        }
    }

    /// `statement` (an INSERT or UPDATE of `orders` returning `OrderRecord.columns`) in ONE statement
    /// with the events of the rows it writes — `events` (`eventColumns`, of `shape`) lists them for
    /// every row it may write; only those of rows written are kept — and their outbox row.
    private static func withEvents(_ statement: PostgresQuery, events: [PostgresData], shape: Int) -> PostgresQuery {
        """
            WITH written AS (\(fragment: statement)),
            \(fragment: eventWrites(events, shape: shape, of: "WHERE s.order_id IN (SELECT written.id FROM written)"))
            SELECT * FROM written
            """
    }

    /// Sends `query` (a `withEvents` statement): nothing is read before the COMMIT. Returns how to
    /// read the rows written, by id, once committed.
    private static func sendWithEvents(_ db: PostgresConnection, _ query: PostgresQuery) throws -> @Sendable () throws -> [UUID: OrderRecord] {
        let written = Received()
        try db.send(query, reading: { written.result = $0 })
        return {
            try byID(written.committed())
        }
    }

    /// The common table expressions (`steps`, `e`, `outbox`) writing the state changes in `c`
    /// (`eventColumns`' arrays of `shape`, in their order: an `order_events` row each) whose order
    /// passes `filter` (a WHERE on `s.order_id`): their `order_events` rows and their `trade-events`
    /// messages, for all of them at once — the order path's statements are its bottleneck. Rows get
    /// ids in the given order (orders, then each order's rows), their later steps `id + 1`, `id + 2`
    /// (`stepsPerEventRow`). The messages go into ONE outbox row for the whole transaction, not a row
    /// per event (migration 0028), as TEXT (migration 0035): a line per message in step order,
    /// `<key>\t<payload>`, which the relay sends as it is.
    private static func eventWrites(_ c: [PostgresData], shape: Int, of filter: PostgresQuery) -> PostgresQuery {
        let steps = shape == 0 ? stepsPerEventRow : shape
        var arrays: PostgresQuery = "\(c[0])::uuid[], \(c[1])::text[]"
        for k in 0..<steps { arrays = "\(fragment: arrays),\n        \(c[2 + 3 * k])::text[], \(c[3 + 3 * k])::jsonb[], \(c[4 + 3 * k])::text[]" }
        return """
            steps AS (
                SELECT nextval('order_events_id_seq') AS id, s.*
                FROM (SELECT * FROM unnest(\(fragment: arrays))
                          WITH ORDINALITY AS s (\(fragment: PostgresQuery(unsafeSQL: stepColumns(steps))), n)
                      \(fragment: filter) ORDER BY s.n) s),
            \(fragment: PostgresQuery(unsafeSQL: eventInserts(shape: shape)))
            """
    }

    /// The most steps one `order_events` row carries (migration 0055): the first in the row's own
    /// columns, the others in `later_to_states`/`later_details`, their ids the row's `id` + 1, + 2 —
    /// never handed out by `order_events_id_seq`, which steps by this many.
    static let stepsPerEventRow = 3

    /// The columns of an `order_events` row of `steps` steps as `steps` holds them: its order, the
    /// first step's from state, then each step's to state, detail and payload.
    static func stepColumns(_ steps: Int) -> String {
        (["order_id, from_state, to_state, detail, payload"] + (1..<max(steps, 1)).map { "to_state_\($0 + 1), detail_\($0 + 1), payload_\($0 + 1)" })
            .joined(separator: ", ")
    }

    /// `eventWrites`' values: the `order_events` rows of some orders' steps, a column per array.
    struct EventColumns {
        /// Every row of this many steps (a batch of new SUBMITTING rows: 3; of moves: 1), or 0: rows
        /// of different numbers, each with `stepsPerEventRow` steps' columns, NULL past its last.
        /// A statement of one shape names its rows' steps: no test per row of which are there.
        var shape: Int
        var columns: [PostgresData]

        /// The number of arrays of `shape`: order ids, first from states, then per step to states,
        /// details and payloads.
        static func count(_ shape: Int) -> Int { 2 + 3 * (shape == 0 ? stepsPerEventRow : shape) }
    }

    /// `eventWrites`' values for the steps of `orders`, an `order_events` row per `eventRows` group:
    /// order ids, first from states, then each step's to states, details and payloads (`stepRows`: JSON by
    /// construction — `JSONValue`'s escapes, so neither a tab nor a newline occurs raw — parsed by
    /// nobody on the way to Redis), a column per array. No rows: the shape of one step.
    static func eventColumns(_ orders: [EventRows.Order]) -> EventColumns {
        let rows = orders.flatMap { order in eventRows(stepRows(order)).map { (order.id, $0) } }
        // Closures, not key paths: a key path here is projected at run time (`swift_getAtKeyPath`, a
        // generic metadata look-up per element) on every batch.
        let counts = Set(rows.map { $0.1.count })
        let shape = counts.count > 1 ? 0 : counts.first ?? 1
        let steps = shape == 0 ? stepsPerEventRow : shape
        // In binary format (`insertColumns`): the payloads are most of a batch's parameter bytes.
        var columns = [PostgresData.binaryArray(rows.map { Optional($0.0) }), PostgresData.binaryArray(text: rows.map { $0.1[0].from })]
        for k in 0..<steps {
            columns.append(PostgresData.binaryArray(text: rows.map { k < $0.1.count ? $0.1[k].to : nil }))
            columns.append(PostgresData.binaryArray(jsonb: rows.map { k < $0.1.count ? $0.1[k].detail : nil }))
            columns.append(PostgresData.binaryArray(text: rows.map { k < $0.1.count ? $0.1[k].payload : nil }))
        }
        return EventColumns(shape: shape, columns: columns)
    }

    typealias StepRow = (from: String?, to: String, detail: String?, payload: String)

    /// An order's steps (`stepRows`, in order) grouped into its `order_events` rows: each row up to
    /// `stepsPerEventRow` steps, each step after a row's first from the state the one before it
    /// reached (the view derives a later step's from state so: `order_event_details`, 0055).
    static func eventRows(_ steps: [StepRow]) -> [[StepRow]] {
        var rows: [[StepRow]] = []
        for step in steps {
            if let row = rows.last, row.count < stepsPerEventRow, step.from == row[row.count - 1].to {
                rows[rows.count - 1].append(step)
            } else {
                rows.append([step])
            }
        }
        return rows
    }

    /// The SQL of the `trade-events` line of step `k` of an `order_events` row, over the `order` and
    /// `payload` expressions: `order:<order_id>:<the step's id>` (the row's `id` + k, 0055), a tab, the
    /// payload — the one spelling of the message key, for the merged and the lone statements.
    static func messageLine(order: String, step k: Int, payload: String) -> String {
        "'order:' || \(order) || ':' || \(k == 0 ? "id" : "(id + \(k))") || E'\\t' || \(payload)"
    }

    /// The `order_events` rows and the one outbox row of the statement's `steps` (`eventWrites`: its
    /// `stepColumns` and `n`), rows of `shape` (`EventColumns.shape`). A row's messages are its
    /// steps', keyed by their ids, one line each.
    static func eventInserts(shape: Int) -> String {
        let line = { (k: Int) in messageLine(order: "order_id", step: k, payload: k == 0 ? "payload" : "payload_\(k + 1)") }
        let later: String, lastID: String, lines: String, messages: String
        switch shape {
        case 1:
            (later, lastID, lines, messages) = ("", "max(id)", line(0), "count(*)")
        case 0:
            later = """
                ,
                       CASE WHEN to_state_3 IS NOT NULL THEN ARRAY[to_state_2, to_state_3] WHEN to_state_2 IS NOT NULL THEN ARRAY[to_state_2] END,
                       CASE WHEN to_state_3 IS NOT NULL THEN ARRAY[detail_2, detail_3] WHEN to_state_2 IS NOT NULL THEN ARRAY[detail_2] END
                """
            lastID = "max(id + CASE WHEN to_state_3 IS NOT NULL THEN 2 WHEN to_state_2 IS NOT NULL THEN 1 ELSE 0 END)"
            lines = line(0) + "\n" + """
                                  || coalesce(E'\\n' || \(line(1)), '')
                                  || coalesce(E'\\n' || \(line(2)), '')
                """
            messages = "count(*) + count(to_state_2) + count(to_state_3)"
        default:
            later = ", ARRAY[\((2...shape).map { "to_state_\($0)" }.joined(separator: ", "))], ARRAY[\((2...shape).map { "detail_\($0)" }.joined(separator: ", "))]"
            (lastID, messages) = ("(max(id) + \(shape - 1))", "count(*) * \(shape)")
            lines = (0..<shape).map(line).joined(separator: " || E'\\n' || ")
        }
        return """
            e AS (
                INSERT INTO order_events (id, order_id, from_state, to_state, detail\(shape == 1 ? "" : ", later_to_states, later_details")) OVERRIDING SYSTEM VALUE
                SELECT id, order_id, from_state, to_state, detail\(later) FROM steps),
            outbox AS (
                INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
                SELECT NULL, 'order-events:' || min(id) || '-' || \(lastID),
                       string_agg(\(lines), E'\\n' ORDER BY n), \(messages)
                FROM steps HAVING count(*) > 0)
            """
    }

    /// An order's steps as `order_events` columns and its `trade-events` message each (see `eventWrites`).
    /// A payload is the order's fields (`appendCommonFields`, written once per order) and the step's
    /// `from`, `to` and `detail`, written as UTF-8 bytes: no `JSONValue` tree and no `String` per field
    /// (the text is what `JSONValue.object` of the same members gives: `OrderEventPayloadTests`). A
    /// step's `detail` is its `order_events.detail`: nil for the step whose detail is the row's route
    /// (`rowsRoute`), whose message still carries it.
    static func stepRows(_ order: EventRows.Order) -> [(from: String?, to: String, detail: String?, payload: String)] {
        var common: [UInt8] = []
        common.reserveCapacity(384)
        appendCommonFields(order, to: &common)
        return order.steps.enumerated().map { index, step in
            let shared = order.rowsRoute.flatMap { $0.step == index ? $0.text : nil }
            let detail = shared ?? step.detail?.text
            var payload = common
            payload.reserveCapacity(common.count + 48 + (detail?.utf8.count ?? 0))
            payload.append(contentsOf: #","from":"#.utf8)
            if let from = step.from {
                // State names are upper-case identifiers: nothing in them to escape.
                payload.append(UInt8(ascii: "\""))
                payload.append(contentsOf: from.rawValue.utf8)
                payload.append(UInt8(ascii: "\""))
            } else {
                payload.append(contentsOf: "null".utf8)
            }
            payload.append(contentsOf: #","to":""#.utf8)
            payload.append(contentsOf: step.to.rawValue.utf8)
            payload.append(UInt8(ascii: "\""))
            if let detail {
                payload.append(contentsOf: #","detail":"#.utf8)
                payload.append(contentsOf: detail.utf8)
            }
            payload.append(UInt8(ascii: "}"))
            return (step.from?.rawValue, step.to.rawValue, shared == nil ? detail : nil, String(decoding: payload, as: UTF8.self))
        }
    }

    /// An order's fields every message of it carries (`trade-events`' `order.state` message), as an
    /// object left open: `{"event":"order.state","order_id":...,"average_price":...` without its `}`.
    static func appendCommonFields(_ order: EventRows.Order, to out: inout [UInt8]) {
        func uuid(_ name: String, _ id: UUID) {
            out.append(contentsOf: name.utf8)
            out.append(UInt8(ascii: "\""))
            UUIDText.appendLower(id, to: &out)
            out.append(UInt8(ascii: "\""))
        }
        func string(_ name: String, _ value: String) {
            out.append(contentsOf: name.utf8)
            JSONValue.appendString(value, to: &out)
        }
        uuid(#"{"event":"order.state","order_id":"#, order.id)
        uuid(#","account_id":"#, order.accountID)
        uuid(#","user_id":"#, order.userID)
        string(#","idempotency_key":"#, order.key)
        string(#","client_order_id":"#, order.clientOrderID)
        string(#","symbol":"#, order.symbol)
        string(#","exchange":"#, order.exchange)
        string(#","side":"#, order.side.rawValue)
        string(#","filled_quantity":"#, DecimalText.plain(order.filled))
        if let average = order.average {
            string(#","average_price":"#, DecimalText.plain(average))
        } else {
            out.append(contentsOf: #","average_price":null"#.utf8)
        }
    }

    /// The order path's statements run for every order with the same text: parsed once per session.
    private static func kept(_ query: PostgresQuery) -> PostgresQuery { query.prepared }

    /// Every denial is in the audit log too: who refused what, and why.
    private static func auditDenial(_ db: PostgresConnection, _ row: NewOrder) throws {
        try db.execute("""
            INSERT INTO audit_log (actor, action, entity_type, entity_id, details, correlation_id)
            VALUES ('worker:order-placer', 'order.risk-rejected', 'order', \(row.id.uuidString.lowercased()),
                    jsonb_build_object('account_id', \(row.accountID.uuidString.lowercased())::text, 'code', \(row.rejectCode)::text,
                                       'decision', \(row.riskDecisionText)::jsonb), \(row.order.idempotencyKey))
            """)
    }

    /// The state changes of the orders written (`eventWrites`), when the rows were written by earlier
    /// statements of the transaction (`performAnswered`). Nobody reads its result, so it is sent
    /// with the transaction's next round trip (the COMMIT, usually): its failure still rolls the
    /// transaction back.
    private static func record(_ db: PostgresConnection, _ orders: [EventRows.Order]) throws {
        guard !orders.isEmpty else { return }
        let events = eventColumns(orders)
        try db.send(kept("WITH \(fragment: eventWrites(events.columns, shape: events.shape, of: "")) SELECT count(*) FROM steps"))
    }

    /// The user's `trade_execution_failed` notification (once per order: keyed by it); the
    /// notifier delivers it on the channels the user chose. Returns the new row's id (nil: it existed).
    private static func notifyFailure(_ db: PostgresConnection, orderID: UUID, userID: UUID, accountID: UUID, key: String, code: String,
                                      reason: String) throws -> UUID? {
        let payload: JSONValue = [
            "order_id": .string(orderID.uuidString.lowercased()), "account_id": .string(accountID.uuidString.lowercased()),
            "idempotency_key": .string(key), "code": .string(code), "reason": .string(reason),
        ]
        return try NotificationOutbox.insert(db, NewNotification(
            userID: userID, kind: "trade_execution_failed", title: "Order not placed (\(code))", body: reason, priority: .high,
            payload: payload, dedupKey: "trade_execution_failed:\(orderID.uuidString.lowercased())", actionURL: "/orders/\(orderID.uuidString.lowercased())"))
    }
}

/// A lone order's write (`OrderStore.perform` given ONE plain write: a new row that is not a refusal,
/// or a transition): one statement of fixed text per shape — the row, its events and its outbox row,
/// as `sendWithEvents` writes them for a batch — whose values are scalar parameters, so the text is
/// built once per process, parsed and planned once per session (its generic plan is the custom one:
/// one row), and nothing is interpolated, renumbered or spelled as an array literal per call.
/// Guarantees are those of `perform`: the INSERT takes a free key only (`ON CONFLICT DO NOTHING`),
/// the UPDATE is the same compare-and-set (`updateSet`/`updateWhere`), and the events and the outbox
/// row are written only when the row was (their id is drawn `FROM written`). It runs in the
/// caller's fenced transaction, after its fences, like any other statement of `perform`.
enum LoneWrite {
    /// The shapes with a statement of their own: a write whose steps are one `order_events` row
    /// (`OrderStore.eventRows`: a new SUBMITTING row's three, a move's one), or none; more go the
    /// merged way.
    static let maxSteps = OrderStore.stepsPerEventRow

    /// Sends `write`'s statement; returns how to read its row (nil: nothing written) once committed,
    /// or nil when the write has no lone shape (the caller merges it as usual).
    static func send(_ db: PostgresConnection, _ write: OrderWrite) throws -> (@Sendable () throws -> OrderRecord?)? {
        let sql: String, binds: [PostgresData], steps: [OrderStore.StepRow], id: UUID
        switch write.kind {
        case .insert(let rows):
            guard rows.count == 1 else { return nil }
            let row = rows[0]
            steps = OrderStore.stepRows(OrderStore.newRowEvents(row))
            guard OrderStore.eventRows(steps).count <= 1 else { return nil }
            (sql, binds, id) = (insertStatements[steps.count], insertBinds(row, token: write.fencingToken), row.id)
        case .move(let move):
            move.requireLegal()
            steps = OrderStore.moveEvents(move).map(OrderStore.stepRows) ?? []
            guard OrderStore.eventRows(steps).count <= 1 else { return nil }
            (sql, binds, id) = (moveStatements[steps.count], moveBinds(move, token: write.fencingToken), move.order.id)
        }
        var all = binds
        all.reserveCapacity(binds.count + 1 + 3 * steps.count)
        if let first = steps.first { all.append(first.from.postgresData()) }
        for step in steps { all += [step.to.postgresData(), step.detail.postgresData(), step.payload.postgresData()] }
        let written = Received()
        try db.send(PostgresQuery(unsafeSQL: sql, binds: all).prepared, reading: { written.result = $0 })
        return {
            try OrderStore.byID(written.committed())[id]
        }
    }

    /// A new row's values: `$1` is its id (its events' order), `$23` `submitted_at`.
    static let insertValues = """
        VALUES ($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, $6::text, $7::text, $8::text, $9::text, $10::text, $11::text, $12::text,
                $13::text, $14::numeric, $15::numeric, $16::numeric, $17::text, $18::numeric, $19::jsonb, $20::jsonb, $21::text, $22::text,
                $23::timestamptz, CASE WHEN $23::timestamptz IS NULL THEN 0 ELSE 1 END, $24::bigint, CASE WHEN $25::boolean THEN now() END)
        """

    static func insertBinds(_ row: NewOrder, token: Int64?) -> [PostgresData] {
        let order = row.order
        return [row.id.postgresData(), row.userID.postgresData(), row.accountID.postgresData(), row.requestedAccountColumn.postgresData(),
                row.parentID.postgresData(), order.idempotencyKey.postgresData(), row.clientOrderID.postgresData(), order.symbol.postgresData(),
                order.exchange.postgresData(), order.side.rawValue.postgresData(), order.type.rawValue.postgresData(),
                order.timeInForce.rawValue.postgresData(), order.product.rawValue.postgresData(), row.quantity.postgresData(),
                order.limitPrice.postgresData(), order.triggerPrice.postgresData(), row.state.rawValue.postgresData(),
                row.requestedPrice.postgresData(), row.riskDecisionText.postgresData(), row.routeText.postgresData(),
                row.rejectCode.postgresData(), row.rejectReason.postgresData(), row.submittedAt.postgresData(), token.postgresData(),
                row.state.isTerminal.postgresData()]
    }

    /// One move's values as one row of scalars (`OrderStore.updateWhere`'s `v`); `$1` is the order's id.
    /// Its generic plan costs what a custom plan does (one row, found by the primary key), so
    /// Postgres's plan cache keeps it after the first few runs; with arrays the generic plan is costed
    /// for ten rows, and every one-move UPDATE was planned anew (PROFILE.md, session 21).
    static let moveValues = """
        (VALUES ($1::uuid, $2::text, $3::integer, $4::text, $5::text, $6::numeric, $7::numeric, $8::text, $9::text, $10::text,
                 $11::timestamptz, $12::timestamptz, $13::boolean, $14::numeric, $15::numeric, $16::numeric, $17::text, $18::boolean, $19::bigint))
        """

    static func moveBinds(_ move: OrderMove, token: Int64?) -> [PostgresData] {
        let changes = move.changes
        return [move.order.id.postgresData(), move.order.state.rawValue.postgresData(), Int32(move.order.version).postgresData(),
                move.to.rawValue.postgresData(), changes.brokerOrderID.postgresData(), changes.filledQuantity.postgresData(),
                changes.averagePrice.postgresData(), changes.rejectCode.postgresData(), changes.rejectReason.postgresData(),
                changes.unknownReason.postgresData(), changes.nextLookupAt.postgresData(), changes.submittedAt.postgresData(),
                changes.lookedUp.postgresData(), changes.quantity.postgresData(), changes.limitPrice.postgresData(),
                changes.triggerPrice.postgresData(), changes.clientOrderID.postgresData(), move.to.isTerminal.postgresData(), token.postgresData()]
    }

    /// The lone INSERT with 0...maxSteps events, by their number.
    static let insertStatements = (0...maxSteps).map { withEvents(
        "\(OrderStore.insertInto.sql) \(insertValues) ON CONFLICT (idempotency_key) DO NOTHING RETURNING \(OrderRecord.columns.sql)", rowBinds: 25, steps: $0) }

    /// The lone UPDATE with 0...maxSteps events, by their number.
    static let moveStatements = (0...maxSteps).map { withEvents(
        "\(OrderStore.updateSet.sql) FROM \(moveValues) \(OrderStore.updateWhere.sql)", rowBinds: 19, steps: $0) }

    /// `write` (returning the row's `OrderRecord.columns`) with the `order_events` row of its `steps`
    /// steps (one row: `OrderStore.eventRows`) of the row `$1`, kept only when the row was written,
    /// and its outbox row — the same row and text `OrderStore.eventInserts(shape:)` writes for one order:
    /// after the row's `rowBinds`, the first step's from state, then each step's to state, detail and
    /// payload. One row of a known number of steps, so its text names them: no sort, no aggregate,
    /// no test of which steps there are; its id is drawn once per row written (`FROM written`: one
    /// row or none), not under a sub-plan testing it. Statement text only: run once per shape.
    static func withEvents(_ write: String, rowBinds: Int, steps: Int) -> String {
        guard steps > 0 else { return write }
        let to = { (k: Int) in "$\(rowBinds + 2 + 3 * k)::text" }, detail = { (k: Int) in "$\(rowBinds + 3 + 3 * k)::jsonb" }
        let line = { (k: Int) in OrderStore.messageLine(order: "$1::uuid", step: k, payload: "$\(rowBinds + 4 + 3 * k)::text") }
        let later = steps > 1
            ? ", ARRAY[\((1..<steps).map(to).joined(separator: ", "))], ARRAY[\((1..<steps).map(detail).joined(separator: ", "))]" : ""
        return """
            WITH written AS (\(write)),
            steps AS (
                SELECT nextval('order_events_id_seq') AS id FROM written),
            e AS (
                INSERT INTO order_events (id, order_id, from_state, to_state, detail\(steps > 1 ? ", later_to_states, later_details" : ""))
                OVERRIDING SYSTEM VALUE
                SELECT id, $1::uuid, $\(rowBinds + 1)::text, \(to(0)), \(detail(0))\(later) FROM steps),
            outbox AS (
                INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
                SELECT NULL, 'order-events:' || id || '-' || \(steps == 1 ? "id" : "(id + \(steps - 1))"),
                       \((0..<steps).map(line).joined(separator: " || E'\\n' || ")), \(steps)
                FROM steps)
            SELECT * FROM written
            """
    }
}

/// A statement whose text depends on its shape only (every value a bind), built ONCE — not
/// interpolated, renumbered and concatenated again for every batch. Guarantees: `build`, given the
/// binds `$1...$n` as markers, interpolated them in order — checked when the text is built — so
/// `query(values)` puts `values[k]` where `build` put its `c[k]` (placeholders and values cannot
/// drift apart, as with the interpolation itself). The check sees interpolated values only: a
/// fragment of hand-numbered text inside `build` (`oneMove`'s `LoneWrite.moveValues`) is as right as
/// its numbering, which `PgLoneWriteTests` pins against the database.
/// A template that breaks the rule traps when first used: `OrderStore.buildStatements()` builds them
/// all when a worker starts, so that is at start-up, not inside a transaction under live traffic.
struct FixedStatement: Sendable {
    let sql: String
    let count: Int

    init(binds count: Int, _ build: ([PostgresData]) -> PostgresQuery) {
        let markers = (0..<count).map { Int64($0).postgresData() }
        let built = build(markers)
        precondition(built.binds == markers, "a fixed statement must interpolate its values once each, in order")
        self.sql = built.sql
        self.count = count
    }

    /// The statement with `values` (as many as it was built with), prepared: same text every call.
    func query(_ values: [PostgresData]) -> PostgresQuery {
        precondition(values.count == count, "a fixed statement takes \(count) values, not \(values.count)")
        return PostgresQuery(unsafeSQL: sql, binds: values).prepared
    }
}

/// A sent statement's result, handed over by the pipeline before the transaction returns and read
/// after it (the pool's hand-over orders the two): `OrderStore.sendWithEvents` and `LoneWrite.send`.
private final class Received: @unchecked Sendable {
    var result: PostgresResult?

    /// The result, once the transaction committed (its statement always answers by then).
    func committed() throws -> PostgresResult {
        guard let result else { throw PostgresError(kind: .client, message: "order writes: no answer to a committed statement") }
        return result
    }
}

/// One write of the order path, for `OrderStore.perform` (alone, or merged in a group commit).
struct OrderWrite: Sendable {
    enum Kind: Sendable {
        /// New rows of one order: the order, then its children when split.
        case insert([NewOrder])
        /// One transition of one order.
        case move(OrderMove)
    }
    var kind: Kind
    /// The shard lease's token, stored on the rows written (nil: the cold placer).
    var fencingToken: Int64?

    /// Its statements need no answer before the COMMIT (see `OrderStore.perform`): one new row that
    /// is not a risk denial, or a transition that is not a broker refusal.
    var answeredAfterCommit: Bool {
        switch kind {
        case .insert(let rows): return rows.count == 1 && rows[0].state != .riskRejected
        case .move(let move): return !(move.to == .rejected && move.order.state != .rejected)
        }
    }
}

/// A transition: `order` as read, moved to `to` with `changes` (and its event's `detail`).
struct OrderMove: Sendable {
    var order: OrderRecord
    var to: OrderState
    var changes: OrderChanges
    var detail: JSONValue?

    /// The one precondition of every transition `OrderStore` writes (merged, lone or answered): the
    /// order stays in its state or goes where `OrderState.canMove(to:)` allows — anything else is a
    /// bug in the caller. (The compare-and-set on the row as read is `OrderStore.updateWhere`.)
    func requireLegal() {
        precondition(order.state == to || order.state.canMove(to: to), "illegal order transition \(order.state) → \(to)")
    }
}

/// What one write did: the (first) row as written — nil when the key was taken or the row had moved
/// on, and nothing was written — and the notifications it created (to announce after the commit).
struct OrderWritten: Sendable {
    var record: OrderRecord?
    var notified: [UUID] = []
}

/// The state-change events of one order, for `OrderStore.record`.
enum EventRows {
    typealias Step = (from: OrderState?, to: OrderState, detail: JSONValue?)
    struct Order {
        var id: UUID
        var accountID: UUID
        var userID: UUID
        var key: String
        var clientOrderID: String
        var symbol: String
        var exchange: String
        var side: OrderSide
        var filled: Decimal
        var average: Decimal?
        var steps: [Step]
        /// The step (an index in `steps`) whose detail is the row's `route`, and the route's text: its
        /// message carries that text, its `order_events.detail` is NULL (see `NewOrder.routedStep`).
        var rowsRoute: (step: Int, text: String)? = nil
    }
}

/// An insert found its key taken by a racing delivery.
struct InsertRace: Error {}
