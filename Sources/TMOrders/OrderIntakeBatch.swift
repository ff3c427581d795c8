import Foundation
import TMCore
import TMPostgres
import TMQueue

extension OrderIntake {
    /// Checks and enqueues many commands at once: the database's facts for all the places in one
    /// statement (their accounts, their instruments, their keys already on order rows), then every
    /// command that passed in one pipelined enqueue (`QueueProducer.enqueueBatch`). Results in input
    /// order.
    ///
    /// Guarantees, per command, exactly those of `submit`: the same shape checks and the same
    /// account and instrument rules (`OrderIntake.check(_:account:instrument:)`, shared), a refusal
    /// (`OrderCommandError`) enqueues nothing for that command and does not stop the others, a place
    /// whose key is already on an order row answers `duplicate` with that order and is not enqueued,
    /// and the queue's key record makes a repeated key (in this batch or an earlier call) enqueue
    /// once. A cancel or modify is checked on its own, as `submit` checks it. Errors of the database
    /// or the queue as a whole are thrown (nothing is known to be enqueued then; a retry with the same
    /// keys is safe).
    public func submitBatch(_ commands: [OrderCommand]) async throws -> [Result<OrderReceipt, Error>] {
        var results = [Result<OrderReceipt, Error>?](repeating: nil, count: commands.count)
        var shaped = [OrderCommand?](repeating: nil, count: commands.count)
        for (index, command) in commands.enumerated() {
            do { shaped[index] = try Self.shaped(command) } catch { results[index] = .failure(error) }
        }
        let places = shaped.compactMap { command -> PlaceOrder? in if case .place(let order)? = command { return order } else { return nil } }
        let facts = try BatchFacts.read(db, places)

        var outgoing: [(index: Int, command: OrderCommand)] = []
        for (index, command) in shaped.enumerated() {
            guard let command else { continue }
            do {
                switch command {
                case .place(let order):
                    try Self.check(order, account: facts.accounts[order.accountID],
                                   instrument: facts.instruments[BatchFacts.InstrumentKey(exchange: order.exchange, symbol: order.symbol)],
                                   routing: routing)
                    if let existing = facts.placedKeys[BatchFacts.Bytes(order.idempotencyKey)] {
                        // Placed before, perhaps beyond the queue's memory of the key: never a second order.
                        var receipt = OrderReceipt(kind: command.kind, idempotencyKey: order.idempotencyKey, accountID: order.accountID, duplicate: true)
                        receipt.orderID = existing
                        results[index] = .success(receipt)
                        continue
                    }
                case .change(let change):
                    try check(change)
                }
                outgoing.append((index, command))
            } catch {
                results[index] = .failure(error)
            }
        }
        if !outgoing.isEmpty {
            let enqueued = try await producer.enqueueBatch(queue, outgoing.map { Self.message($0.command) })
            for ((index, command), result) in zip(outgoing, enqueued) {
                results[index] = result.map { Self.receipt(command, $0) }
            }
        }
        return results.map { $0! }
    }

    /// The database's facts a batch of places is checked against, read in ONE prepared statement: one
    /// round trip a call, planned once per session. A call of one place (the API's intake mostly gets
    /// one order a call) reads them by `PlaceFacts`' statement of scalars (one round trip, no arrays).
    ///
    /// Symbols, exchanges and keys are matched by their bytes, as Postgres compares them (and as
    /// `submit`'s statement of scalars does): Swift's `String` equality is canonical equivalence, so
    /// a `Set` or `Dictionary` of Strings would take `CAFÉ` precomposed and `CAFE` + U+0301 for one —
    /// one's facts would answer for the other (an unknown symbol accepted, a new key answered
    /// `duplicate` with another key's order and never enqueued).
    struct BatchFacts {
        /// A text equal to another only byte for byte.
        struct Bytes: Hashable {
            let text: String
            init(_ text: String) { self.text = text }
            static func == (lhs: Bytes, rhs: Bytes) -> Bool { lhs.text.utf8.elementsEqual(rhs.text.utf8) }
            func hash(into hasher: inout Hasher) {
                hasher.combine(text.utf8.count)
                for byte in text.utf8 { hasher.combine(byte) }
            }
        }
        struct InstrumentKey: Hashable {
            var exchange: Bytes, symbol: Bytes
            init(exchange: String, symbol: String) { (self.exchange, self.symbol) = (Bytes(exchange), Bytes(symbol)) }
        }
        var accounts: [UUID: AccountFacts] = [:]
        var instruments: [InstrumentKey: InstrumentFacts] = [:]
        /// Idempotency keys already on an order row → that order.
        var placedKeys: [Bytes: UUID] = [:]

        static func read(_ db: PostgresConnection, _ places: [PlaceOrder]) throws -> BatchFacts {
            var facts = BatchFacts()
            guard !places.isEmpty else { return facts }
            if places.count == 1 {
                let order = places[0], lone = try PlaceFacts.read(db, order)
                facts.accounts[order.accountID] = lone.account
                facts.instruments[InstrumentKey(exchange: order.exchange, symbol: order.symbol)] = lone.instrument
                facts.placedKeys[Bytes(order.idempotencyKey)] = lone.placedOrder
                return facts
            }
            let accounts = PostgresArrayText.uuids(Set(places.map(\.accountID)))
            let wanted = Array(Set(places.map { InstrumentKey(exchange: $0.exchange, symbol: $0.symbol) }))
            let exchanges = PostgresData.array(wanted.map(\.exchange.text)), symbols = PostgresData.array(wanted.map(\.symbol.text))
            let keys = PostgresData.array(Set(places.map { Bytes($0.idempotencyKey) }).map(\.text))
            // A row per fact: `fact` says which, its other columns are NULL. Each key (distinct: the
            // arrays are built from sets) is looked up by its unique index (`LATERAL … OFFSET 0`: a
            // nested loop over the keys, whatever the tables hold). Each array is read through a
            // sub-SELECT so that the planner never sees its length: with it seen, every call's custom
            // plan (4 rows) looks cheaper than the generic plan (10 rows) and the statement is planned
            // afresh at every call (`pg_prepared_statements`: 0 generic plans, ~1.2M instructions a
            // call); unseen, both cost the same and the generic plan is kept from the 6th call.
            let statement: PostgresQuery = """
                SELECT 'account' AS fact, a.id, a.status, a.broker, \(fragment: AccountFacts.holderBrokers),
                       NULL AS exchange, NULL AS symbol, NULL AS lot, NULL AS tick, NULL::boolean AS tradable, NULL AS idempotency_key
                FROM unnest((SELECT \(accounts)::uuid[])) AS w(id)
                  CROSS JOIN LATERAL (SELECT * FROM broker_accounts a WHERE a.id = w.id OFFSET 0) a
                UNION ALL
                SELECT 'instrument', NULL, NULL, NULL, NULL, i.exchange, i.symbol, i.lot_size::text, i.tick_size::text, i.tradable, NULL
                FROM unnest((SELECT \(exchanges)::text[]), (SELECT \(symbols)::text[])) AS w(exchange, symbol)
                  CROSS JOIN LATERAL (SELECT * FROM instruments i WHERE i.exchange = w.exchange AND i.symbol = w.symbol OFFSET 0) i
                UNION ALL
                SELECT 'placed', o.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, o.idempotency_key
                FROM unnest((SELECT \(keys)::text[])) AS w(key)
                  CROSS JOIN LATERAL (SELECT * FROM orders o WHERE o.idempotency_key = w.key OFFSET 0) o
                """
            for row in try db.query(statement.prepared).rows {
                switch try row.decode("fact", as: String.self) {
                case "account": facts.accounts[try row.decode("id")] = try AccountFacts(row: row)
                case "instrument":
                    facts.instruments[InstrumentKey(exchange: try row.decode("exchange"), symbol: try row.decode("symbol"))] = try InstrumentFacts(row: row)
                default: facts.placedKeys[Bytes(try row.decode("idempotency_key"))] = try row.decode("id")
                }
            }
            return facts
        }
    }
}
