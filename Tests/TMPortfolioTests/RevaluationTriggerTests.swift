import Foundation
import Logging
import Testing
import TestSupport
import TMCore
import TMFunctionRuntime
import TMMarketData
import TMPortfolio
import TMQueue
import TMRedis

/// What revalues a portfolio: a fill on `trade-events` (portfolio-valuer) and a price move
/// (`revalue(holdersOf:)`), each user once per batch, and nobody who does not hold the instrument.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RevaluationTriggerTests {
    static func request(_ bodies: [String]) -> InvocationRequest {
        InvocationRequest(invocationID: UUID().uuidString, function: "portfolio-valuer", attempt: 1,
                          deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
                          records: bodies.enumerated().map {
                              InvocationRecord(messageID: "m\($0.offset + 1)", queue: "trade-events", attempt: 1, epoch: 1, enqueuedAtMillis: 0, body: $0.element)
                          })
    }

    static func context(_ request: InvocationRequest) -> FunctionContext {
        FunctionContext(request: request, logger: Logger(label: "test.portfolio-valuer"))
    }

    /// A sync's `trade.created` message, as `TradeEvent` (TMSync) writes it.
    static func tradeCreated(account: UUID, user: UUID, symbol: String) -> String {
        JSONValue.object([
            ("event", "trade.created"), ("account_id", .string(account.uuidString.lowercased())), ("user_id", .string(user.uuidString.lowercased())),
            ("trade_id", .string(UUID().uuidString.lowercased())), ("broker_trade_id", "T-1"), ("broker_order_id", "O-1"), ("symbol", .string(symbol)),
            ("side", "buy"), ("quantity", "10"), ("price", "1500.25"), ("fee", "0"), ("executed_at", "2026-12-05T09:00:00Z"), ("revision", "r1"),
        ]).text
    }

    @Test func aFillOnTradeEventsRevaluesItsUser() async throws {
        let f = try await PortfolioFixture()
        let infy = f.symbol("INFY")
        let user = try f.user("fill")
        let bystander = try f.user("bystander")
        let account = try f.account(user, broker: "kite", label: "main")
        try f.funds(try f.account(bystander, broker: "kite", label: "main"), segment: "equity", currency: "INR", available: 5, cash: 5)
        try f.instrument(infy, "NSE", currency: "INR")
        try f.position(account, infy, "NSE", quantity: 10, average: "1500.25".d)
        try f.funds(account, segment: "equity", currency: "INR", available: 0, cash: 985)
        try await f.price(infy, "NSE", 1510, previousClose: 1500)

        let queue = "trade-events-" + TestServers.uniqueName("pf").lowercased().replacingOccurrences(of: "_", with: "-")
        let manifest = QueueManifest(name: queue)
        let producer = QueueProducer(redis: f.redis, catalog: try QueueCatalog([manifest]))
        let function = PortfolioValuerFunction(valuer: f.valuer())
        // The dispatcher's part, in process: each delivery becomes the function's record.
        let consumer = QueueConsumer(manifest: manifest, redis: try RedisConfiguration(url: try TestServers.redisURL)) { delivery in
            let request = InvocationRequest(
                invocationID: UUID().uuidString, function: "portfolio-valuer", attempt: delivery.attempt,
                deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000,
                records: [InvocationRecord(messageID: delivery.id, key: delivery.key, queue: delivery.queue, attempt: delivery.attempt, epoch: delivery.epoch,
                                           enqueuedAtMillis: Int64(delivery.enqueuedAt.timeIntervalSince1970 * 1000),
                                           body: String(decoding: delivery.payload, as: UTF8.self))])
            let result = await function.handle(request, context: Self.context(request))
            guard result.status == .ok else { throw RecordRejected("portfolio-valuer: \(result)") }
            return result.results?[delivery.id]
        }
        let running = Task { try await consumer.run() }
        defer { consumer.stop() }

        try await producer.enqueue(queue, OutgoingMessage(payload: Array(Self.tradeCreated(account: account, user: user, symbol: infy).utf8), key: "trade:1"))
        try await eventually("the user's portfolio in the cache") { try await f.cached(user) != nil }
        let first = try #require(try await f.cached(user))
        #expect(first.totals.first?.totalValue == 16_085 && first.positions.first?.unrealizedPnl == "97.5".d)
        #expect(try await f.cached(bystander) == nil, "only the event's user is revalued")

        // The order path's state change (user_id too) after the next fill: the portfolio follows it.
        try f.position(account, infy, "NSE", quantity: 15, average: "1503.5".d)
        try f.funds(account, segment: "equity", currency: "INR", available: 0, cash: 100)
        f.clock.withLock { $0 = PortfolioFixture.noon.addingTimeInterval(5) }
        let orderState = JSONValue.object([
            ("event", "order.state"), ("order_id", .string(UUID().uuidString.lowercased())), ("account_id", .string(account.uuidString.lowercased())),
            ("user_id", .string(user.uuidString.lowercased())), ("symbol", .string(infy)), ("exchange", "NSE"), ("side", "buy"),
            ("filled_quantity", "5"), ("average_price", "1510"), ("from", "ACCEPTED"), ("to", "FILLED"),
        ]).text
        try await producer.enqueue(queue, OutgoingMessage(payload: Array(orderState.utf8), key: "order:2"))
        try await eventually("the portfolio after the second fill") { try await f.cached(user)?.totals.first?.cash == 100 }
        #expect(try await f.cached(user)?.totals.first?.totalValue == 22_750)

        consumer.stop()
        try await running.value
        for key in (try await f.redis.send("KEYS", "tm:{\(queue).0}:*").array ?? []).compactMap(\.string) { _ = try? await f.redis.send("DEL", key) }
        await f.cleanUp()
    }

    /// A batch's users are revalued once each, whether its events name the user or only the account;
    /// an order's state change with nothing filled revalues nobody; an unreadable record fails
    /// alone, without retries.
    @Test func aBatchRevaluesEachUserOnceAndRefusesOnlyBadRecords() async throws {
        let f = try await PortfolioFixture()
        let a = try f.user("a")
        let b = try f.user("b")
        let c = try f.user("c")
        let accountA = try f.account(a, broker: "kite", label: "main")
        let accountB = try f.account(b, broker: "alpaca", label: "us")
        let request = Self.request([
            Self.tradeCreated(account: accountA, user: a, symbol: "X"), Self.tradeCreated(account: accountA, user: a, symbol: "Y"),
            #"{"event":"order.state","account_id":"\#(accountA.uuidString)"}"#, #"{"event":"trade.created","account_id":"\#(accountB.uuidString)"}"#,
            #"{"event":"trade.created"}"#, "[1]", #"{"account_id":"\#(UUID().uuidString)"}"#,
            #"{"event":"order.state","user_id":"\#(c.uuidString)","filled_quantity":"0","to":"ACCEPTED"}"#,
        ])
        let reads = f.clockReads.withLock { $0 }
        let result = await PortfolioValuerFunction(valuer: f.valuer()).handle(request, context: Self.context(request))
        #expect(f.clockReads.withLock { $0 } - reads == 2, "two users, one valuation each")
        #expect(try await f.cached(a) != nil)
        #expect(try await f.cached(b) != nil)
        #expect(result.status == .partial)
        let failures = Dictionary(uniqueKeysWithValues: (result.failures ?? []).map { ($0.messageID, $0) })
        #expect(Set(failures.keys) == ["m5", "m6", "m7"])
        #expect(failures["m5"]?.retryable == false && failures["m6"]?.retryable == false)
        #expect(failures["m7"]?.retryable == true && failures["m7"]?.error.contains("no account") == true)
        #expect(result.results?["m4"] == "revalued user \(b.uuidString.lowercased())")
        #expect(result.results?["m8"]?.hasPrefix("skipped") == true)
        #expect(try await f.cached(c) == nil)
        await f.cleanUp()
    }

    @Test func aPriceMoveRevaluesOnlyTheHoldersOfItsInstruments() async throws {
        let f = try await PortfolioFixture()
        let (x, y) = (f.symbol("X"), f.symbol("Y"))
        let holder = try f.user("holder")
        let both = try f.user("both")
        let other = try f.user("other")
        let flat = try f.user("flat")
        let disconnected = try f.user("disconnected")
        try f.position(try f.account(holder, broker: "kite", label: "main"), x, "NSE", quantity: 1, average: 10)
        let bothAccount = try f.account(both, broker: "upstox", label: "main")
        try f.position(bothAccount, x, "NSE", quantity: -2, average: 10)
        try f.position(bothAccount, y, "NSE", quantity: 3, average: 10)
        try f.position(try f.account(other, broker: "kite", label: "main"), y, "NSE", quantity: 1, average: 10)
        try f.position(try f.account(other, broker: "alpaca", label: "us"), x, "NASDAQ", quantity: 1, average: 10)
        try f.position(try f.account(flat, broker: "kite", label: "main"), x, "NSE", quantity: 0, average: 0, realized: 5)
        try f.position(try f.account(disconnected, broker: "kite", label: "main", status: "disabled"), x, "NSE", quantity: 4, average: 10)

        let ticks = [PriceTick(symbol: x, exchange: "NSE", price: 11, source: "kite", atMs: f.nowMs),
                     PriceTick(symbol: x, exchange: "NSE", price: 12, source: "kite", atMs: f.nowMs + 1),
                     PriceTick(symbol: f.symbol("Z"), exchange: "NSE", price: 1, source: "kite", atMs: f.nowMs)]
        let reads = f.clockReads.withLock { $0 }
        let report = try await f.valuer().revalue(holdersOf: ticks)
        #expect(Set(report.revalued) == [holder, both] && report.revalued.count == 2 && report.failed.isEmpty)
        #expect(f.clockReads.withLock { $0 } - reads == 2, "each holder once, however many ticks")
        #expect(try await f.cached(holder) != nil)
        #expect(try await f.cached(both) != nil)
        for bystander in [other, flat, disconnected] { #expect(try await f.cached(bystander) == nil) }
        #expect(try await f.valuer().revalue(holdersOf: []).revalued.isEmpty)
        await f.cleanUp()
    }
}
