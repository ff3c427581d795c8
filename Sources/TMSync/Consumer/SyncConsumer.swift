import Foundation
import Logging
import TMBrokers
import TMCore
import TMCrypto
import TMLocks
import TMPostgres
import TMQueue
import TMRedis

/// `sync-consumer`: pulls one broker account's orders, trades (since its cursor) and positions into
/// Postgres, idempotently.
///
/// Guarantees:
/// - one sync per account at a time: a per-account lock, and every write in one transaction fenced
///   by the lock's token and by the message's delivery epoch, so a paused ex-holder, or a paused
///   invocation whose message was redelivered, can never overwrite a newer sync;
/// - trades are upserted by (account, broker trade id): a re-sync creates nothing twice, and a trade
///   the broker corrected is updated; platform orders get their fill state, never moving backwards
///   or out of a terminal state; the position snapshot replaces the previous one;
/// - a `sync_logs` row records every run (counts, duration, outcome); the cursor and the account's
///   last sync move only when the run's writes commit;
/// - `trade-events` for created and corrected trades are written to an outbox in the same
///   transaction and published after it commits, so a crash in between delays them to the
///   account's next sync rather than losing them;
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
    public var lockTTL: Duration = .seconds(120)
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
    }

    public static func lockResource(_ account: UUID) -> String { "sync:account:\(account.uuidString.lowercased())" }

    /// - Parameter delivery: the message's delivery (`InvocationRecord.fence`), fencing the writes.
    public func sync(_ message: SyncTrigger.Message, delivery: MessageFence, logger base: Logger) async throws -> Outcome {
        var logger = base
        logger[metadataKey: "account_id"] = .string(message.accountID.uuidString.lowercased())
        // Another consumer syncing this account: wait for it (bounded). A lock still held after
        // that (its holder may have died; the lock expires with its TTL) fails retryably, so the
        // message comes back with backoff instead of being acknowledged unsynced.
        let locks = DistributedLock(redis: redis)
        let lease: LockLease
        do {
            lease = try await locks.acquire(Self.lockResource(message.accountID), ttl: lockTTL, waitUpTo: lockWait)
        } catch let error as LockError {
            throw SyncBusy(reason: "account \(message.accountID.uuidString.lowercased()) is being synced by another consumer (\(error))")
        }
        do {
            let outcome = try await syncLocked(message, delivery: delivery, lease: lease, logger: logger)
            _ = try? await locks.release(lease)
            return outcome
        } catch {
            _ = try? await locks.release(lease)
            throw error
        }
    }

    /// The sync itself, under the account's lock.
    func syncLocked(_ message: SyncTrigger.Message, delivery: MessageFence, lease: LockLease, logger: Logger) async throws -> Outcome {
        // Read under the lock: the status, cursor and last sync another consumer may just have moved.
        guard let account = try await pool.withConnection({ try BrokerAccount.load($0, id: message.accountID) }) else {
            throw SyncError.unknownAccount(message.accountID)
        }
        guard account.status == "active" else { return .skipped("account is \(account.status)") }
        if let last = account.lastSyncAt, let slot = ISO8601DateFormatter().date(from: message.slot), last >= slot {
            logger.info("skipped: synced by another consumer since this slot")
            return .skipped("already synced since slot \(message.slot)")
        }
        // Events a previous run committed but did not get to publish (it crashed) go first.
        if account.hasPendingEvents { await publishOutbox(account: account, logger: logger) }
        let started = ContinuousClock.now
        let logID = try await SyncLog.start(pool, account: account.id, messageID: delivery.messageID)
        let broker = adapter(account)
        let credentials = account.credentials(keyring: keyring)
        do {
            // The broker calls go out together (a sync mostly waits on the broker); only Binance,
            // which lists trades per symbol, needs the orders and positions first.
            async let ordersCall = broker.orders(credentials: credentials)
            async let positionsCall = broker.positions(credentials: credentials)
            let orders: [BrokerOrder], positions: [BrokerPosition], batch: TradeBatch
            if account.broker == .binance {
                (orders, positions) = try await (ordersCall, positionsCall)
                let symbols = try await tradeSymbols(account, orders: orders, positions: positions)
                batch = try await broker.trades(since: account.cursor, symbols: symbols, credentials: credentials)
            } else {
                async let tradesCall = broker.trades(since: account.cursor, symbols: [], credentials: credentials)
                (orders, positions, batch) = try await (ordersCall, positionsCall, tradesCall)
            }
            let duration = ContinuousClock.now - started
            let (report, changed) = try await pool.transaction(fencedBy: [lease, delivery]) { db in
                try SyncWriter(db: db, account: account).apply(orders: orders, trades: batch, positions: positions,
                                                             logID: logID, duration: duration)
            }
            if !changed.isEmpty { await publishOutbox(account: account, logger: logger) }
            logger.info("synced", metadata: [
                "fetched": "\(report.fetched)", "created": "\(report.created)", "updated": "\(report.updated)",
                "skipped": "\(report.skipped)", "orders_updated": "\(report.ordersUpdated)", "duration_ms": "\(duration.milliseconds)",
            ])
            return .synced(report)
        } catch let error as BrokerError {
            let duration = ContinuousClock.now - started
            if case .unauthorized(let reason) = error {
                // The broker's refusal is what the message dies with, even if recording it fails.
                do {
                    try await markNeedsUser(account, reason: reason, slot: message.slot, logID: logID, duration: duration, logger: logger)
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
            try? await SyncLog.fail(pool, logID: logID, account: account.id, error: "\(error)", duration: ContinuousClock.now - started)
            throw error
        }
    }

    /// Symbols to read trades for where the broker lists them per symbol (Binance): the symbols of
    /// the account's orders, the pairs of the assets it holds (from the instrument list: base asset
    /// + quote currency), and the adapter adds the symbols it has read before (its cursor). Not
    /// every listed instrument: each symbol costs a request against the broker's weight limit.
    func tradeSymbols(_ account: BrokerAccount, orders: [BrokerOrder], positions: [BrokerPosition]) async throws -> [String] {
        var symbols = Set(orders.map(\.symbol))
        let held = Set(positions.map(\.symbol))
        if account.broker == .binance, !held.isEmpty {
            for row in try await pool.query("SELECT symbol, currency FROM instruments WHERE exchange = 'BINANCE'") {
                let symbol: String = try row.decode("symbol"), quote: String = try row.decode("currency")
                if symbol.hasSuffix(quote), held.contains(String(symbol.dropLast(quote.count))) { symbols.insert(symbol) }
            }
        }
        return symbols.sorted()
    }

    /// The account needs its user: status `error` with the reason, a notification row (once per
    /// slot) and a message on the notifications queue.
    func markNeedsUser(_ account: BrokerAccount, reason: String, slot: String, logID: Int64, duration: Duration, logger: Logger) async throws {
        let text = "the broker refused the account's credentials (\(reason)); reconnect the account"
        let notification = try await pool.transaction { db -> UUID? in
            try db.execute("""
                UPDATE broker_accounts SET status = 'error', error_reason = \(text), last_sync_outcome = 'error',
                  consecutive_failures = consecutive_failures + 1 WHERE id = \(account.id)
                """)
            try SyncLog.fail(db, logID: logID, error: "unauthorized: \(reason)", duration: duration)
            let payload = try String(decoding: JSONSerialization.data(withJSONObject: [
                "account_id": account.id.uuidString.lowercased(), "broker": account.broker.rawValue, "label": account.label, "reason": text,
            ], options: [.sortedKeys]), as: UTF8.self)
            return try db.query("""
                INSERT INTO notifications (user_id, kind, payload, dedup_key)
                VALUES (\(account.userID), 'sync_error', \(payload)::jsonb, \("sync_error:\(account.id.uuidString.lowercased()):\(slot)"))
                ON CONFLICT (dedup_key) DO NOTHING RETURNING id
                """).rows.first.map { try $0.decode("id", as: UUID.self) }
        }
        logger.error("account needs its user: credentials refused", metadata: ["reason": "\(reason)"])
        if let notification {
            let message = try OutgoingMessage(json: ["notification_id": notification.uuidString.lowercased(), "user_id": account.userID.uuidString.lowercased(), "kind": "sync_error"],
                                              key: "notification:\(notification.uuidString.lowercased())")
            _ = try? await producer.enqueue(notificationsQueue, message)
        }
    }

    /// Publishes the account's outbox to `trade-events` and deletes what was sent. Each message is
    /// keyed by trade and content, so an event sent twice (a crash between send and delete) is
    /// enqueued once. A failure leaves the rows for the next sync of the account.
    func publishOutbox(account: BrokerAccount, logger: Logger) async {
        do {
            let rows = try await pool.query("""
                SELECT id, event_key, payload::text AS payload FROM trade_event_outbox WHERE account_id = \(account.id) ORDER BY id LIMIT 5000
                """).rows
            guard !rows.isEmpty else { return }
            let ids = try rows.map { try $0.decode("id", as: Int64.self) }
            let messages = try rows.map { row in
                OutgoingMessage(payload: Array((try row.decode("payload", as: String.self)).utf8), key: try row.decode("event_key", as: String.self))
            }
            let results = try await producer.enqueueBatch(tradeEventsQueue, messages)
            let sent = zip(ids, results).compactMap { id, result -> Int64? in if case .success = result { return id } else { return nil } }
            if sent.count < ids.count { logger.error("trade events not published; kept for the next sync", metadata: ["count": "\(ids.count - sent.count)"]) }
            for chunk in stride(from: 0, to: sent.count, by: 1000) {
                let part = sent[chunk..<min(chunk + 1000, sent.count)]
                try await pool.execute(PostgresQuery(
                    unsafeSQL: "DELETE FROM trade_event_outbox WHERE id IN (\(part.indices.map { "$\($0 - chunk + 1)" }.joined(separator: ",")))",
                    binds: part.map { $0.postgresData() }))
            }
        } catch {
            logger.warning("publishing trade events failed; kept for the next sync", metadata: ["error": "\(error)"])
        }
    }
}

/// Another consumer held the account's lock for longer than the wait: retried with backoff (the
/// lock expires with its TTL if its holder died), never acknowledged unsynced.
public struct SyncBusy: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { reason }
}

/// A `trade-events` message: a trade created or corrected by a sync.
struct TradeEvent: Codable {
    var event: String
    var accountID: String
    var userID: String
    var tradeID: String
    var brokerTradeID: String
    var brokerOrderID: String
    var symbol: String
    var side: String
    var quantity: String
    var price: String
    var fee: String
    var executedAt: String

    enum CodingKeys: String, CodingKey {
        case event, accountID = "account_id", userID = "user_id", tradeID = "trade_id", brokerTradeID = "broker_trade_id",
             brokerOrderID = "broker_order_id", symbol, side, quantity, price, fee, executedAt = "executed_at", revision
    }

    /// The message's idempotency key: the trade and its content.
    var key: String { "trade:\(accountID):\(brokerTradeID):\(revision)" }
    let revision: String

    init(_ changed: SyncWriter.ChangedTrade, account: BrokerAccount) {
        revision = changed.revision
        event = changed.created ? "trade.created" : "trade.updated"
        accountID = account.id.uuidString.lowercased()
        userID = account.userID.uuidString.lowercased()
        tradeID = changed.id.uuidString.lowercased()
        brokerTradeID = changed.trade.brokerTradeID
        brokerOrderID = changed.trade.brokerOrderID
        symbol = changed.trade.symbol
        side = changed.trade.side.rawValue
        quantity = "\(changed.trade.quantity)"
        price = "\(changed.trade.price)"
        fee = "\(changed.trade.fee)"
        executedAt = ISO8601DateFormatter().string(from: changed.trade.executedAt)
    }
}
