import Foundation
import Logging
import Testing
import TestSupport
import TMBrokers
import TMLocks
import TMPostgres
import TMSync

/// sync-consumer's guarantees against real Postgres and Redis.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SyncConsumerTests {
    @Test func syncingTwiceInARowCreatesNothingTwice() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(trades: [
            SyncFixture.trade("T1", order: "O1", quantity: 10, price: Decimal(string: "1501.35")!, fee: Decimal(string: "2.10")!),
            SyncFixture.trade("T2", order: "O2", quantity: 5, price: Decimal(string: "1499.9")!),
            SyncFixture.trade("T3", order: "O3", quantity: Decimal(string: "0.5")!, price: Decimal(string: "12345678901234.12345678")!),
        ], positions: [BrokerPosition(symbol: "INFY", exchange: "NSE", quantity: 15, averagePrice: Decimal(string: "1500.866666")!)])
        guard case .synced(let first) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(first.created == 3 && first.updated == 0 && first.fetched == 3)
        guard case .synced(let second) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(second.created == 0 && second.updated == 0 && second.skipped == 3)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 3)
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE price = 12345678901234.12345678") == 1, "exact decimals")
        #expect(try f.count("SELECT count(*)::int FROM positions WHERE quantity = 15") == 1)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'ok'") == 2)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE created_count = 3 AND fetched_count = 3") == 1)
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE last_sync_outcome = 'ok' AND last_sync_at IS NOT NULL AND sync_cursor ? 'last_fill'") == 1)
        #expect(try await f.streamLength(f.tradeEvents) == 3, "one trade-events message per created trade, none for unchanged ones")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "the outbox is emptied once published")
    }

    @Test func aUserWhoAskedIsToldASyncCompletedOncePerSlot() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 10, price: Decimal(string: "1501.35")!)], positions: [])
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        #expect(try f.count("SELECT count(*)::int FROM notifications WHERE kind = 'sync_completed'") == 0, "not asked for")
        let connection = try f.db.connect()
        defer { connection.close() }
        try connection.execute("INSERT INTO notification_preferences (user_id, kind, channels) SELECT user_id, 'sync_completed', '{in_app}' FROM broker_accounts")
        let slot = ISO8601DateFormatter().string(from: Date().addingTimeInterval(2))
        guard case .synced = try await f.sync(slot: slot) else { Issue.record("not synced"); return }
        #expect(try f.count("SELECT count(*)::int FROM notifications WHERE kind = 'sync_completed' AND title LIKE '% synced'") == 1)
    }

    @Test func eventsCommittedButNeverPublishedAreSentByTheNextSync() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        // What a sync that crashed between its commit and its publish leaves behind.
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload)
            VALUES (\(f.account), 'trade:left-over:T9:c', '{"event":"trade.created","broker_trade_id":"T9"}')
            """)
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        #expect(try await f.streamLength(f.tradeEvents) == 1, "the left-over event was published")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
        _ = try await f.sync()
        #expect(try await f.streamLength(f.tradeEvents) == 1, "and only once")
    }

    @Test func aPartialFillThenTheRestMovesThePlatformOrderAndLinksItsTrades() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let conn = try f.db.connect()
        defer { conn.close() }
        let orderID: UUID = try conn.query("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price, state, broker_order_id)
            VALUES (\(f.user), \(f.account), 'order-1', 'cid1', 'INFY', 'NSE', 'buy', 'limit', 10, 1500, 'ACCEPTED', 'O1') RETURNING id
            """).rows[0].decode("id")
        f.broker.set(orders: [SyncFixture.order("O1", client: "cid1", quantity: 10, filled: 4, average: 1500, status: .partiallyFilled)],
                     trades: [SyncFixture.trade("T1", order: "O1", quantity: 4, price: 1500)])
        _ = try await f.sync()
        var row = try conn.query("SELECT state, filled_quantity, average_price FROM orders WHERE id = \(orderID)").rows[0]
        #expect(try row.decode("state", as: String.self) == "PARTIALLY_FILLED")
        #expect(try row.decode("filled_quantity", as: Decimal.self) == 4)

        f.broker.set(orders: [SyncFixture.order("O1", client: "cid1", quantity: 10, filled: 10, average: Decimal(string: "1500.6")!, status: .filled)],
                     trades: [SyncFixture.trade("T1", order: "O1", quantity: 4, price: 1500), SyncFixture.trade("T2", order: "O1", quantity: 6, price: 1501, at: 1_795_330_060)])
        guard case .synced(let report) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(report.created == 1 && report.skipped == 1 && report.ordersUpdated == 1)
        row = try conn.query("SELECT state, filled_quantity, average_price, completed_at IS NOT NULL AS done FROM orders WHERE id = \(orderID)").rows[0]
        #expect(try row.decode("state", as: String.self) == "FILLED")
        #expect(try row.decode("filled_quantity", as: Decimal.self) == 10)
        #expect(try row.decode("average_price", as: Decimal.self) == Decimal(string: "1500.6")!)
        #expect(try row.decode("done", as: Bool.self))
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE order_id IS NOT NULL") == 2, "both fills linked to the platform order")

        // A stale report (the first one again) never moves the order backwards.
        f.broker.set(orders: [SyncFixture.order("O1", client: "cid1", quantity: 10, filled: 4, average: 1500, status: .partiallyFilled)])
        _ = try await f.sync()
        #expect(try conn.query("SELECT state FROM orders WHERE id = \(orderID)").rows[0].decode("state", as: String.self) == "FILLED")
    }

    @Test func aFillReportedWithoutAnAveragePriceDoesNotBlockTheSync() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO orders (user_id, account_id, idempotency_key, client_order_id, symbol, exchange, side, order_type, quantity, price, state, broker_order_id)
            VALUES (\(f.user), \(f.account), 'order-2', 'cid2', 'INFY', 'NSE', 'buy', 'limit', 10, 1500, 'ACCEPTED', 'O2')
            """)
        // Some brokers report a fill before its average (Alpaca's filled_avg_price can be null).
        f.broker.set(orders: [SyncFixture.order("O2", client: "cid2", quantity: 10, filled: 10, average: nil, status: .filled)],
                     trades: [SyncFixture.trade("T1", order: "O2", quantity: 10, price: 1500)])
        guard case .synced(let report) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(report.created == 1, "the trades land even though the order must wait")
        #expect(try f.count("SELECT count(*)::int FROM orders WHERE state = 'ACCEPTED' AND filled_quantity = 0") == 1)
        f.broker.set(orders: [SyncFixture.order("O2", client: "cid2", quantity: 10, filled: 10, average: 1500, status: .filled)])
        _ = try await f.sync()
        #expect(try f.count("SELECT count(*)::int FROM orders WHERE state = 'FILLED' AND average_price = 1500") == 1)
    }

    @Test func aTradeChangedAtTheBrokerIsUpdatedAndAnnounced() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 10, price: 1500, fee: 1)])
        _ = try await f.sync()
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 10, price: Decimal(string: "1499.5")!, fee: Decimal(string: "1.2")!)])
        guard case .synced(let report) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(report.updated == 1 && report.created == 0)
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE price = 1499.5 AND fees = 1.2") == 1)
        #expect(try await f.streamLength(f.tradeEvents) == 2, "trade.created, then trade.updated")
    }

    @Test func twoConsumersHandedTheSameAccountAtOnceSyncItOnce() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 10, price: 1500)])
        f.broker.delay(.milliseconds(300))
        let first = try f.consumer(), second = try f.consumer()
        let slot = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-60))
        async let a = f.sync(slot: slot, consumer: first)
        async let b = f.sync(slot: slot, consumer: second)
        let outcomes = try await [a, b]
        let synced = outcomes.filter { if case .synced = $0 { return true } else { return false } }
        #expect(synced.count == 1, "\(outcomes)")
        #expect(outcomes.contains(.skipped("already synced since slot \(slot)")), "the other waited for the lock, then found the work done")
        #expect(try f.count("SELECT count(*)::int FROM sync_logs") == 1)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 1)
    }

    @Test func aLockHeldPastTheWaitFailsRetryablyInsteadOfBeingAcknowledged() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        // A sync whose process died holding the lock: it stays until its TTL.
        let stale = try await DistributedLock(redis: f.redis).tryAcquire(SyncConsumer.lockResource(f.account), ttl: .seconds(30))
        #expect(stale != nil)
        var consumer = try f.consumer()
        consumer.lockWait = .milliseconds(300)
        do {
            _ = try await f.sync(consumer: consumer)
            Issue.record("synced while another holder had the lock")
        } catch let busy as SyncBusy {
            #expect(busy.description.contains("being synced by another consumer"))
        }
        #expect(try f.count("SELECT count(*)::int FROM sync_logs") == 0)
        if let stale { _ = try await DistributedLock(redis: f.redis).release(stale) }
        guard case .synced = try await f.sync(consumer: consumer) else { Issue.record("not synced once the lock was free"); return }
    }

    @Test func anExpiredTokenMarksTheAccountAndNotifiesTheUserWithoutRetrying() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.fail(with: .unauthorized(reason: "TokenException: Incorrect `api_key` or `access_token`."))
        do {
            _ = try await f.sync()
            Issue.record("an expired token synced")
        } catch let error as BrokerError {
            #expect(error.isRetryable == false, "dead-lettered at once, never retried")
            #expect("\(error)".contains("TokenException"))
        }
        let conn = try f.db.connect()
        defer { conn.close() }
        let account = try conn.query("SELECT status, error_reason, last_sync_outcome FROM broker_accounts WHERE id = \(f.account)").rows[0]
        #expect(try account.decode("status", as: String.self) == "error")
        #expect(try account.decode("error_reason", as: String.self).contains("reconnect the account"))
        #expect(try f.count("SELECT count(*)::int FROM notifications WHERE kind = 'sync_error'") == 1)
        #expect(try f.count("SELECT count(*)::int FROM sync_logs WHERE outcome = 'error' AND error LIKE 'unauthorized:%'") == 1)
        #expect(try await f.streamLength(f.notifications) == 1, "the user's notification is queued")
        // Paused by the error: the next slot skips it instead of hammering the broker.
        #expect(try await f.sync(slot: "2026-11-22T10:10:00Z") == .skipped("account is error"))
        for text in try conn.query("SELECT error_reason AS t FROM broker_accounts UNION ALL SELECT error FROM sync_logs UNION ALL SELECT payload::text FROM notifications").rows {
            #expect(!(try text.decode("t", as: String?.self) ?? "").contains(f.secret), "no credential in any stored text")
        }
    }

    @Test func anUnavailableBrokerFailsRetryablyAndLeavesTheAccountActive() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.fail(with: .unavailable(reason: "503 Service Unavailable"))
        await #expect(throws: BrokerError.unavailable(reason: "503 Service Unavailable")) { try await f.sync() }
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE status = 'active' AND consecutive_failures = 1 AND last_sync_outcome = 'error'") == 1)
        f.broker.fail(with: nil)
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 1, price: 1)])
        guard case .synced = try await f.sync() else { Issue.record("not synced after the broker recovered"); return }
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE consecutive_failures = 0 AND last_sync_outcome = 'ok'") == 1)
    }

    @Test func credentialsAreOpenedForTheBrokerCallOnly() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        _ = try await f.sync()
        #expect(f.broker.seenCredentials.allSatisfy { $0 == "key-\(f.secret)" }, "the adapter got the unsealed key")
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE api_key_sealed LIKE 'tmseal.%' AND api_secret_sealed NOT LIKE '%\(f.secret)%'") == 1)
    }
}
