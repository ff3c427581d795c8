import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMLocks
import TMNotify
import TMPostgres
import TMQueue
import TMRedis

/// `sync-consumer`: pulls one broker account's orders, trades (since its cursor), positions and
/// funds into Postgres, idempotently.
///
/// Guarantees:
/// - one sync per account at a time: a per-account lock, renewed while the sync runs (`withLock`),
///   whose loss cancels the sync; and every write in one transaction fenced by the lock's token and
///   by the message's delivery epoch, so a paused ex-holder, or a paused invocation whose message
///   was redelivered, can never overwrite a newer sync;
/// - trades are upserted by (account, broker trade id): a re-sync creates nothing twice, and a trade
///   the broker corrected is updated; platform orders get their fill state, never moving backwards
///   or out of a terminal state; a trade is linked to its platform order by the sync that learns the
///   order's broker id (matched by client id), in that same sync, even if the trade came earlier;
///   the position snapshot replaces the previous one (`SyncWriter` says what counts as a correction);
/// - the account's funds (`account_funds`, what pre-trade risk's buying power reads) are replaced in
///   the same transaction as the positions, so both are of the same sync; when the funds call alone
///   fails (Upstox closes its funds service from midnight to 5:30 IST), the rest of the sync still
///   lands, the previous funds rows stay with their old `as_of` (their age shows), and the run is
///   `partial` with the reason (sync log, account, log line); refused credentials from the funds
///   call mark the account like any other call's;
/// - a `sync_logs` row records every run (counts, duration, outcome); a run that died without an
///   outcome (killed, timed out, lease lost) is closed as `abandoned` by the account's next sync —
///   which holds the lock, so no such run can still be going — or by sync-trigger's sweep; the
///   cursor and the account's last sync move only when the run's writes commit;
/// - `trade-events` for created and corrected trades are written to an outbox in the same
///   transaction and published after it commits (`TradeEventOutbox`: best effort, drained later,
///   bounded), so a crash in between, or a full queue, delays them rather than losing them or
///   failing the sync;
/// - an expired or revoked token marks the account `error`, queues a notification for its user and
///   fails non-retryably (the message is dead-lettered with the reason); an unavailable broker fails
///   retryably (backoff, then the dead-letter queue).
public struct SyncConsumer: Sendable {
    public let pool: PostgresPool
    public let redis: RedisClient
    public let producer: QueueProducer
    public let keyring: SecretKeyring
    /// The adapter for an account, already behind the shared rate limits and circuit breaker.
    public let adapter: @Sendable (BrokerAccount) -> any BrokerAdapter
    /// The account lock's lease, renewed every third of it while the sync runs: a killed sync's
    /// account is free again within this long.
    public var lockTTL: Duration = .seconds(30)
    /// How long a sync waits for another consumer's sync of the same account.
    public var lockWait: Duration = .seconds(10)
    public var tradeEventsQueue = "trade-events"
    public var notificationsQueue = "notifications"

    public init(pool: PostgresPool, redis: RedisClient, producer: QueueProducer, keyring: SecretKeyring,
                adapter: @escaping @Sendable (BrokerAccount) -> any BrokerAdapter) {
        self.pool = pool
        self.redis = redis
        self.producer = producer
        self.keyring = keyring
        self.adapter = adapter
    }

    public enum Outcome: Sendable, Equatable {
        case synced(SyncReport)
        case skipped(String)
    }

    public struct SyncReport: Sendable, Equatable {
        public var fetched = 0
        public var created = 0
        public var updated = 0
        public var skipped = 0
        public var ordersUpdated = 0
        public var positions = 0
        /// Trades linked to their platform order by this sync (not corrections: no event).
        public var linked = 0
        /// Funds lines (segment × currency) this sync stored.
        public var funds = 0
        /// Why the account's funds were not refreshed (their call alone failed): the previous rows
        /// stay, and the run is `partial`. nil when they were.
        public var fundsError: String?
    }

    public static func lockResource(_ account: UUID) -> String { "sync:account:\(account.uuidString.lowercased())" }

    /// - Parameter delivery: the message's delivery (`InvocationRecord.fence`), fencing the writes.
    public func sync(_ message: SyncTrigger.Message, delivery: MessageFence, logger base: Logger) async throws -> Outcome {
        var tagged = base
        tagged[metadataKey: "account_id"] = .string(message.accountID.uuidString.lowercased())
        let logger = tagged
        // Another consumer syncing this account: wait for it (bounded). A lock still held after
        // that (its holder may have died; the lock expires with its TTL) fails retryably, so the
        // message comes back with backoff instead of being acknowledged unsynced.
        // The lease is renewed while the sync runs; if it is lost the sync is cancelled (and its
        // writes, fenced by the lease's token, are refused anyway).
        do {
            return try await DistributedLock(redis: redis).withLock(Self.lockResource(message.accountID), ttl: lockTTL, waitUpTo: lockWait) { lease in
                try await syncLocked(message, delivery: delivery, lease: lease, logger: logger)
            }
        } catch let error as LockError {
            guard case .notAcquired = error else { throw error }
            throw SyncBusy(reason: "account \(message.accountID.uuidString.lowercased()) is being synced by another consumer (\(error))")
        }
    }

    /// The sync itself, under the account's lock.
    func syncLocked(_ message: SyncTrigger.Message, delivery: MessageFence, lease: LockLease, logger: Logger) async throws -> Outcome {
        // Read under the lock: the status, cursor and last sync another consumer may just have moved.
        let loaded: BrokerAccount?
        do {
            loaded = try await pool.withConnection({ try BrokerAccount.load($0, id: message.accountID) })
        } catch SyncError.manualAccount {
            // Nothing to sync (sync-trigger never schedules one; a message enqueued by hand lands here).
            return .skipped("account is \(ManualAccount.reason)")
        }
        guard let account = loaded else {
            throw SyncError.unknownAccount(message.accountID)
        }
        guard account.status == "active" else { return .skipped("account is \(account.status)") }
        if let last = account.lastSyncAt, let slot = ISO8601DateFormatter().date(from: message.slot), last >= slot {
            logger.info("skipped: synced by another consumer since this slot")
            return .skipped("already synced since slot \(message.slot)")
        }
        // Events a previous run committed but did not get to publish (it crashed) go first.
        if account.hasPendingEvents { await outbox.publish(account: account.id, logger: logger) }
        let started = ContinuousClock.now
        // Under the lock no other run of this account can be going: its open rows are abandoned.
        let logID = try await SyncLog.start(pool, account: account.id, messageID: delivery.messageID)
        let broker = adapter(account)
        let credentials = account.credentials(keyring: keyring)
        do {
            // The broker calls go out together (a sync mostly waits on the broker); only Binance,
            // which lists trades and closed orders per symbol, needs the open orders and positions first
            // (its funds go out with those first calls).
            async let ordersCall = broker.orders(credentials: credentials)
            async let positionsCall = broker.positions(credentials: credentials)
            async let fundsCall = fetchFunds(broker, credentials: credentials)
            var orders: [BrokerOrder], positions: [BrokerPosition], batch: TradeBatch
            if account.broker == .binance {
                (orders, positions) = try await (ordersCall, positionsCall)
                let unlisted = try await workingOrders(account, notIn: orders)
                let unlistedSymbols = Set(unlisted.map(\.symbol))
                let symbols = try await tradeSymbols(account, orders: orders, positions: positions).union(unlistedSymbols)
                batch = try await broker.trades(since: account.cursor, symbols: symbols.sorted(), credentials: credentials)
                // An order that filled or ended since the last sync is no longer open: read the
                // recent orders of the symbols where such an order may be, or its fill never lands.
                let listed = Set(orders.map(\.brokerOrderID))
                let closed = Set(batch.trades.filter { !listed.contains($0.brokerOrderID) }.map(\.symbol)).union(unlistedSymbols)
                if !closed.isEmpty {
                    orders = try await broker.orders(symbols: closed.sorted(), credentials: credentials)
                    // One last updated before the recent window (syncs paused for a day, or more orders
                    // of its symbol than one read returns) is in neither list: looked up by its client id.
                    for missing in try await workingOrders(account, notIn: orders) where missing.brokerOrderID != nil {
                        if let found = try await lookUp(missing, broker: broker, credentials: credentials) { orders.append(found) }
                    }
                }
            } else {
                async let tradesCall = broker.trades(since: account.cursor, symbols: [], credentials: credentials)
                (orders, positions, batch) = try await (ordersCall, positionsCall, tradesCall)
            }
            let funds = try await fundsCall
            let duration = ContinuousClock.now - started
            try Task.checkCancellation()  // the lease was lost while the broker answered: write nothing
            let fetched = (orders: orders, batch: batch, positions: positions, funds: funds)
            let slot = message.slot
            let (report, changed, completion) = try await pool.transaction(fencedBy: [lease, delivery]) { db in
                let (report, changed) = try SyncWriter(db: db, account: account).apply(
                    orders: fetched.orders, trades: fetched.batch, positions: fetched.positions, funds: fetched.funds, logID: logID, duration: duration)
                return (report, changed, try Self.notifyCompletion(db, account: account, report: report, slot: slot))
            }
            if !changed.isEmpty { await outbox.publish(account: account.id, logger: logger) }
            if let completion { await NotificationOutbox.announce([completion], producer: producer, queue: notificationsQueue) }
            logger.info("synced", metadata: [
                "fetched": "\(report.fetched)", "created": "\(report.created)", "updated": "\(report.updated)",
                "skipped": "\(report.skipped)", "orders_updated": "\(report.ordersUpdated)", "linked": "\(report.linked)",
                "positions": "\(report.positions)", "funds": "\(report.funds)", "duration_ms": "\(duration.milliseconds)",
            ])
            if let reason = report.fundsError {
                logger.warning("synced without funds: the previous funds are kept", metadata: ["error": "\(reason)"])
            }
            return .synced(report)
        } catch let error as BrokerError {
            let duration = ContinuousClock.now - started
            if case .unauthorized(let reason) = error {
                // The broker's refusal is what the message dies with, even if recording it fails.
                do {
                    try await markNeedsUser(account, reason: reason, slot: message.slot, logID: logID, duration: duration,
                                            fences: [lease, delivery], logger: logger)
                } catch {
                    logger.error("could not mark the account as needing its user", metadata: ["error": "\(error)"])
                }
            } else {
                try? await SyncLog.fail(pool, logID: logID, account: account.id, error: "\(error)", duration: duration)
            }
            throw error
        } catch let error as LockError {
            // Fenced out: a newer delivery or lock holder has synced the account. Only this run's
            // log row fails; the account's outcome is the newer sync's.
            _ = try? await pool.withConnection { try SyncLog.fail($0, logID: logID, error: "\(error)", duration: ContinuousClock.now - started) }
            throw error
        } catch {
            // Cancelled (the lease was lost, or the invocation stopped): recorded all the same, from
            // a task of its own that the cancellation does not reach.
            let reason = error is CancellationError ? "cancelled: the account's lock lease was lost or the invocation was stopped" : "\(error)"
            let (pool, account, duration) = (pool, account.id, ContinuousClock.now - started)
            await Task { try? await SyncLog.fail(pool, logID: logID, account: account, error: reason, duration: duration) }.value
            throw error
        }
    }

    /// A `sync_completed` notification, in the sync's transaction, for users who asked for it by
    /// name (a `sync_completed` preference row); once per account and slot.
    static func notifyCompletion(_ db: PostgresConnection, account: BrokerAccount, report: SyncReport, slot: String) throws -> UUID? {
        guard try NotificationChannels.asksFor(db, userID: account.userID, kind: "sync_completed") else { return nil }
        let payload: JSONValue = [
            "account_id": .string(account.id.uuidString.lowercased()), "broker": .string(account.broker.rawValue), "label": .string(account.label),
            "fetched": .int(report.fetched), "created": .int(report.created), "updated": .int(report.updated),
        ]
        return try NotificationOutbox.insert(db, NewNotification(
            userID: account.userID, kind: "sync_completed", title: "\(account.label) synced",
            body: "\(report.created) new and \(report.updated) updated trade(s) from \(account.broker.rawValue)", priority: .low,
            payload: payload, dedupKey: "sync_completed:\(account.id.uuidString.lowercased()):\(slot)"))
    }

    /// The account's funds, fetched beside the sync's other calls. Only their own failure is kept
    /// from the sync: orders, trades and positions must not be lost because funds could not be read
    /// (Upstox's funds service is closed from midnight to 5:30 IST), so the sync lands without them
    /// and the previous rows stay. Refused credentials are the account's problem, not the funds':
    /// thrown, like any other call's. A currency the table cannot hold fails the funds, not the sync.
    func fetchFunds(_ broker: any BrokerAdapter, credentials: BrokerCredentials) async throws -> Result<[BrokerFunds], BrokerError> {
        do {
            let funds = try await broker.funds(credentials: credentials)
            if let odd = funds.first(where: { !(3...10).contains($0.currency.count) }) {
                return .failure(.invalidResponse(reason: "funds in a currency of \(odd.currency.count) characters ('\(odd.currency)')"))
            }
            return .success(funds)
        } catch let error as BrokerError {
            if case .unauthorized = error { throw error }
            return .failure(error)
        }
    }

    /// The outbox this consumer publishes `trade-events` from.
    public var outbox: TradeEventOutbox {
        var outbox = TradeEventOutbox(pool: pool, producer: producer)
        outbox.queue = tradeEventsQueue
        return outbox
    }

    /// Symbols to read trades for where the broker lists them per symbol (Binance): the symbols of
    /// the account's orders, the pairs of the assets it holds (from the instrument list: base asset
    /// + quote currency), and the adapter adds the symbols it has read before (its cursor). Not
    /// every listed instrument: each symbol costs a request against the broker's weight limit.
    func tradeSymbols(_ account: BrokerAccount, orders: [BrokerOrder], positions: [BrokerPosition]) async throws -> Set<String> {
        var symbols = Set(orders.map(\.symbol))
        let held = Set(positions.map(\.symbol))
        if account.broker == .binance, !held.isEmpty {
            for row in try await pool.query("SELECT symbol, currency FROM instruments WHERE exchange = 'BINANCE'") {
                let symbol: String = try row.decode("symbol"), quote: String = try row.decode("currency")
                if symbol.hasSuffix(quote), held.contains(String(symbol.dropLast(quote.count))) { symbols.insert(symbol) }
            }
        }
        return symbols
    }

    /// A platform order still working on this account that a broker's order list lacks.
    struct WorkingOrder: Sendable {
        let symbol: String
        let brokerOrderID: String?
        let clientOrderID: String
    }

    /// The platform's orders still working on this account that `listed` (the broker's open list, or
    /// open and recent) lacks: each has filled, been cancelled or expired since, and only its
    /// symbol's recent orders, or the order itself, say which.
    func workingOrders(_ account: BrokerAccount, notIn listed: [BrokerOrder]) async throws -> [WorkingOrder] {
        let listedBroker = Set(listed.map(\.brokerOrderID)), listedClient = Set(listed.compactMap(\.clientOrderID))
        var missing: [WorkingOrder] = []
        for row in try await pool.query("""
            SELECT symbol, broker_order_id, client_order_id FROM orders
            WHERE account_id = \(account.id) AND origin = 'platform' AND state IN ('SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'UNKNOWN')
            """) {
            let brokerID: String? = try row.decode("broker_order_id"), clientID: String = try row.decode("client_order_id")
            if brokerID.map(listedBroker.contains) == true || listedClient.contains(clientID) { continue }
            missing.append(WorkingOrder(symbol: try row.decode("symbol"), brokerOrderID: brokerID, clientOrderID: clientID))
        }
        return missing
    }

    /// The order by its client id; nil when the broker has none or will not say (Binance archives a
    /// long-finished unfilled order, `-2026`): a look-up that fails so must not stop the sync.
    func lookUp(_ order: WorkingOrder, broker: any BrokerAdapter, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        do {
            return try await broker.order(clientOrderID: order.clientOrderID, symbol: order.symbol, credentials: credentials)
        } catch BrokerError.rejected, BrokerError.notFound {
            return nil
        }
    }

    /// The account needs its user: status `error` with the reason, a notification row (once per
    /// slot) and a message on the notifications queue.
    /// Fenced like the sync's own writes: a paused ex-holder must not mark an account that a newer
    /// sync has since found healthy.
    func markNeedsUser(_ account: BrokerAccount, reason: String, slot: String, logID: Int64, duration: Duration,
                       fences: [any Fence], logger: Logger) async throws {
        let text = "the broker refused the account's credentials (\(reason)); reconnect the account"
        let notification = try await pool.transaction(fencedBy: fences) { db -> UUID? in
            try db.execute("""
                UPDATE broker_accounts SET status = 'error', error_reason = \(text), last_sync_outcome = 'error',
                  consecutive_failures = consecutive_failures + 1 WHERE id = \(account.id)
                """)
            try SyncLog.fail(db, logID: logID, error: "unauthorized: \(reason)", duration: duration)
            let payload: JSONValue = [
                "account_id": .string(account.id.uuidString.lowercased()), "broker": .string(account.broker.rawValue),
                "label": .string(account.label), "reason": .string(text),
            ]
            return try NotificationOutbox.insert(db, NewNotification(
                userID: account.userID, kind: "sync_error", title: "Reconnect \(account.label)", body: text, priority: .high,
                payload: payload, dedupKey: "sync_error:\(account.id.uuidString.lowercased()):\(slot)"))
        }
        logger.error("account needs its user: credentials refused", metadata: ["reason": "\(reason)"])
        if let notification {
            await NotificationOutbox.announce([notification], producer: producer, queue: notificationsQueue)
        }
    }
}

/// Another consumer held the account's lock for longer than the wait: retried with backoff (the
/// lock expires with its TTL if its holder died), never acknowledged unsynced.
public struct SyncBusy: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { reason }
}

/// A `trade-events` message: a trade created or corrected — by a sync, or by `tm trades import`
/// (manual accounts; no broker order id, so `broker_order_id` is empty). One shape for both, so
/// the consumers of `trade-events` need not know where a trade came from.
public struct TradeEvent: Codable, Sendable {
    public var event: String
    public var accountID: String
    public var userID: String
    public var tradeID: String
    public var brokerTradeID: String
    public var brokerOrderID: String
    public var symbol: String
    public var side: String
    public var quantity: String
    public var price: String
    public var fee: String
    public var executedAt: String

    enum CodingKeys: String, CodingKey {
        case event, accountID = "account_id", userID = "user_id", tradeID = "trade_id", brokerTradeID = "broker_trade_id",
             brokerOrderID = "broker_order_id", symbol, side, quantity, price, fee, executedAt = "executed_at", revision
    }

    /// The message's idempotency key: the trade and its content.
    public var key: String { "trade:\(accountID):\(brokerTradeID):\(revision)" }
    /// "c" for a created trade; "u-<row version>" for a correction, so every correction of a trade
    /// gets its own key, even one that restores an earlier value.
    public let revision: String

    /// - Parameter version: the trade row's version (its transaction id, `xmin`); used for corrections.
    public init(created: Bool, version: String, accountID: UUID, userID: UUID, tradeID: UUID, brokerTradeID: String, brokerOrderID: String,
                symbol: String, side: String, quantity: String, price: String, fee: String, executedAt: Date) {
        revision = created ? "c" : "u-\(version)"
        event = created ? "trade.created" : "trade.updated"
        self.accountID = accountID.uuidString.lowercased()
        self.userID = userID.uuidString.lowercased()
        self.tradeID = tradeID.uuidString.lowercased()
        self.brokerTradeID = brokerTradeID
        self.brokerOrderID = brokerOrderID
        self.symbol = symbol
        self.side = side
        self.quantity = quantity
        self.price = price
        self.fee = fee
        self.executedAt = ISO8601DateFormatter().string(from: executedAt)
    }

    init(_ changed: SyncWriter.ChangedTrade, account: BrokerAccount) {
        self.init(created: changed.created, version: changed.version, accountID: account.id, userID: account.userID, tradeID: changed.id,
                  brokerTradeID: changed.trade.brokerTradeID, brokerOrderID: changed.trade.brokerOrderID, symbol: changed.trade.symbol,
                  side: changed.trade.side.rawValue, quantity: "\(changed.trade.quantity)", price: "\(changed.trade.price)",
                  fee: "\(changed.trade.fee)", executedAt: changed.trade.executedAt)
    }
}
