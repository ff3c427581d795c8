import Foundation
import TMBrokerSim
import TMBrokers
import TMHTTP
import Testing

/// Each adapter against the real `broker-sim` (in-process, real HTTP on loopback): every endpoint,
/// and the errors its injected faults produce.
final class SimulatorFixture: @unchecked Sendable {
    let simulator: BrokerSimulator
    let http: AsyncHTTPClient

    /// `clock`: the simulator's time (default the wall clock); seeded history is relative to it.
    init(clock: (@Sendable () -> Date)? = nil) throws {
        var configuration = BrokerSimulator.Configuration()
        if let clock { configuration.clock = clock }
        configuration.tickMilliseconds = 50
        configuration.rateLimits.enabled = false
        simulator = try BrokerSimulator(configuration: configuration)
        http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 2, name: "sim-test")
        for broker in BrokerKind.allCases {
            let opened = Self.opened(broker)
            simulator.exchange.upsertAccount(Self.simBroker(broker),
                                             SimCredentials(apiKey: opened.apiKey, apiSecret: opened.apiSecret ?? "", accessToken: opened.accessToken))
        }
    }

    deinit {
        http.shutdown()
        simulator.stop()
    }

    static func simBroker(_ broker: BrokerKind) -> Broker { Broker(rawValue: broker.rawValue)! }

    static func opened(_ broker: BrokerKind) -> BrokerCredentials.Opened {
        switch broker {
        case .kite, .upstox: return .init(apiKey: "\(broker)_key", apiSecret: "\(broker)_secret", accessToken: "\(broker)_token")
        case .alpaca, .binance: return .init(apiKey: "\(broker.rawValue.uppercased())KEY", apiSecret: "\(broker)_secret")
        }
    }

    static func credentials(_ broker: BrokerKind) -> BrokerCredentials {
        let opened = opened(broker)
        return BrokerCredentials.plain(apiKey: opened.apiKey, apiSecret: opened.apiSecret, accessToken: opened.accessToken)
    }

    func adapter(_ broker: BrokerKind, total: Duration = .seconds(10)) -> any BrokerAdapter {
        BrokerAdapters.make(broker, endpoints: .simulator(port: Int(simulator.port)), http: http,
                            timeouts: BrokerTimeouts(connect: .seconds(2), total: total))
    }

    /// What each broker trades in the simulator: its symbol, a lot, and where its position shows.
    static func instrument(_ broker: BrokerKind) -> (symbol: String, quantity: Decimal, positionSymbol: String) {
        switch broker {
        case .kite: return ("INFY", 3, "INFY")
        case .upstox: return ("INFY", 3, "INFY")
        case .alpaca: return ("AAPL", 2, "AAPL")
        case .binance: return ("BTCUSDT", decimal("0.002"), "BTC")
        }
    }

    func marketOrder(_ broker: BrokerKind, key: String) -> OrderRequest {
        let instrument = Self.instrument(broker)
        return OrderRequest(clientOrderID: ClientOrderID.derive(idempotencyKey: key, for: broker), symbol: instrument.symbol,
                            exchange: broker == .kite || broker == .upstox ? "NSE" : nil, side: .buy, quantity: instrument.quantity,
                            type: .market, timeInForce: broker == .binance ? .gtc : .day,
                            brokerToken: broker == .upstox ? "NSE_EQ|INE009A01021" : nil)
    }

    /// A buy far below the market, so it rests.
    func restingLimitOrder(_ broker: BrokerKind, key: String) -> OrderRequest {
        var order = marketOrder(broker, key: key)
        order.type = .limit
        var half = simulator.exchange.price(Self.simBroker(broker), Self.instrument(broker).symbol)! / 2
        var rounded = Decimal()
        NSDecimalRound(&rounded, &half, 0, .down)
        order.limitPrice = rounded
        return order
    }

    func ordersPerClientID(_ broker: BrokerKind, _ clientOrderID: String) -> Int {
        simulator.exchange.orders(Self.simBroker(broker), apiKey: Self.opened(broker).apiKey)
            .filter { $0.ticket.clientOrderID == clientOrderID }.count
    }

    func inject(_ broker: BrokerKind, method: String? = nil, path: String = "", status: Int = 503, errorRate: Double = 0,
                burst429: Int = 0, hangMilliseconds: Int = 0, dropAfterExecute: Bool = false, count: Int? = nil) {
        _ = simulator.faults.add(FaultRule(id: "", broker: Self.simBroker(broker), method: method, pathPrefix: path, errorRate: errorRate,
                                           status: status, burst429: burst429, hangMilliseconds: hangMilliseconds,
                                           dropResponseAfterExecute: dropAfterExecute, remaining: count))
    }

    /// The broker's own path for placing an order (after its prefix), for aiming faults.
    static func placementPath(_ broker: BrokerKind) -> String {
        switch broker {
        case .kite: return "/orders"
        case .upstox: return "/v2/order/place"
        case .alpaca: return "/v2/orders"
        case .binance: return "/api/v3/order"
        }
    }
}

@Suite(.timeLimit(.minutes(2)), .serialized) struct SimulatorTests {
    @Test(arguments: BrokerKind.allCases) func everyEndpoint(_ broker: BrokerKind) async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(broker)
        let credentials = SimulatorFixture.credentials(broker)
        let instrument = SimulatorFixture.instrument(broker)

        let before = try await adapter.positions(credentials: credentials).first { $0.symbol == instrument.positionSymbol }?.quantity ?? 0

        // A market order fills at once; look-up by client id finds it filled.
        let market = fixture.marketOrder(broker, key: "sim-market-\(broker)")
        let placed = try await adapter.placeOrder(market, credentials: credentials)
        #expect(!placed.brokerOrderID.isEmpty)
        let found = try #require(try await adapter.order(clientOrderID: market.clientOrderID, symbol: market.symbol, credentials: credentials))
        #expect(found.brokerOrderID == placed.brokerOrderID)
        #expect(found.clientOrderID == market.clientOrderID)
        #expect(found.status == .filled)
        #expect(found.filledQuantity == instrument.quantity)
        #expect(found.side == .buy)
        #expect((found.averagePrice ?? 0) > 0)
        #expect(try await adapter.order(clientOrderID: "nosuchorder", symbol: market.symbol, credentials: credentials) == nil)

        // A limit far from the market rests; it is listed, then cancelled.
        let limit = fixture.restingLimitOrder(broker, key: "sim-limit-\(broker)")
        let resting = try await adapter.placeOrder(limit, credentials: credentials)
        let listed = try await adapter.orders(credentials: credentials)
        let open = try #require(listed.first { $0.brokerOrderID == resting.brokerOrderID })
        #expect(open.status == .open)
        #expect(open.limitPrice == limit.limitPrice)
        #expect(open.clientOrderID == limit.clientOrderID)
        try await adapter.cancelOrder(brokerOrderID: resting.brokerOrderID, symbol: limit.symbol, credentials: credentials)
        let cancelled = try await adapter.order(clientOrderID: limit.clientOrderID, symbol: limit.symbol, credentials: credentials)
        #expect(cancelled?.status == .cancelled)

        // The market order's fills are the trades; resuming from the cursor brings nothing older.
        let batch = try await adapter.trades(since: TradeCursor(), symbols: [market.symbol], credentials: credentials)
        let fills = batch.trades.filter { $0.brokerOrderID == placed.brokerOrderID }
        #expect(!fills.isEmpty)
        #expect(fills.reduce(Decimal(0)) { $0 + $1.quantity } == instrument.quantity)
        #expect(fills.allSatisfy { $0.side == .buy && $0.price > 0 && $0.symbol == market.symbol })
        let again = try await adapter.trades(since: batch.next, symbols: [market.symbol], credentials: credentials)
        let newest = batch.trades.map(\.executedAt).max()!
        #expect(again.trades.allSatisfy { $0.executedAt >= newest })
        if broker == .alpaca || broker == .binance { #expect(again.trades.isEmpty) }

        // The position grew by what was bought, less fees charged in the bought asset (Binance's BTC balance).
        let positions = try await adapter.positions(credentials: credentials)
        let position = try #require(positions.first { $0.symbol == instrument.positionSymbol })
        let feesInAsset = fills.filter { $0.feeCurrency == instrument.positionSymbol }.reduce(Decimal(0)) { $0 + $1.fee }
        #expect(position.quantity - before == instrument.quantity - feesInAsset)
    }

    @Test(arguments: BrokerKind.allCases) func tradesMatchTheBrokersTruthExactly(_ broker: BrokerKind) async throws {
        try await expectTradesMatchTheTruth(broker, SimulatorFixture())
    }

    /// Kite and Upstox list the Indian day's trades: the day turns at 18:30 UTC. The simulator's
    /// clock starts just before and just after that instant (and runs on), and its seeded history
    /// follows it, so what the adapter reads is the whole truth at every hour.
    @Test(arguments: [BrokerKind.upstox, .kite], ["2026-11-20T18:29:50Z", "2026-11-20T18:30:10Z", "2026-11-20T06:00:00Z"])
    func tradesMatchTheTruthAroundMidnightInIndia(_ broker: BrokerKind, _ start: String) async throws {
        let base = try #require(ISO8601DateFormatter().date(from: start))
        let started = Date()
        let clock: @Sendable () -> Date = { base.addingTimeInterval(Date().timeIntervalSince(started)) }
        try await expectTradesMatchTheTruth(broker, SimulatorFixture(clock: clock))
    }

    func expectTradesMatchTheTruth(_ broker: BrokerKind, _ fixture: SimulatorFixture) async throws {
        let opened = SimulatorFixture.opened(broker)
        // Seeded history: many fills, more than one Alpaca page.
        let seeded = try fixture.simulator.exchange.seedTrades(SimulatorFixture.simBroker(broker), apiKey: opened.apiKey, count: 120, symbols: [])
        #expect(seeded > 0)
        let truth = fixture.simulator.exchange.trades(SimulatorFixture.simBroker(broker), apiKey: opened.apiKey)
        let symbols = Array(Set(truth.map(\.instrument.symbol)))
        let batch = try await fixture.adapter(broker).trades(since: TradeCursor(), symbols: symbols, credentials: SimulatorFixture.credentials(broker))
        #expect(batch.trades.count == truth.count)
        #expect(Set(batch.trades.map(\.brokerTradeID)).count == batch.trades.count)
        let adapterTotal = batch.trades.reduce(Decimal(0)) { $0 + $1.quantity * $1.price }
        let truthTotal = truth.reduce(Decimal(0)) { $0 + $1.quantity * $1.price }
        #expect(adapterTotal == truthTotal)
        if broker == .binance {
            #expect(batch.trades.reduce(Decimal(0)) { $0 + $1.fee } == truth.reduce(Decimal(0)) { $0 + $1.fee })
        }
    }

    @Test(arguments: BrokerKind.allCases) func injected503IsUnknownForAPlacementAndUnavailableForARead(_ broker: BrokerKind) async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(broker)
        let credentials = SimulatorFixture.credentials(broker)
        fixture.inject(broker, status: 503, errorRate: 1, count: 2)
        let order = fixture.marketOrder(broker, key: "sim-503-\(broker)")
        let placement = await brokerError { try await adapter.placeOrder(order, credentials: credentials) }
        #expect(placement.map(ErrorShape.init) == .unknownOutcome, "\(String(describing: placement))")
        let read = await brokerError { try await adapter.orders(credentials: credentials) }
        #expect(read.map(ErrorShape.init) == .unavailable, "\(String(describing: read))")
        // The fault is spent: the look-up an unknown outcome calls for now answers (nothing was placed).
        #expect(try await adapter.order(clientOrderID: order.clientOrderID, symbol: order.symbol, credentials: credentials) == nil)
    }

    @Test(arguments: BrokerKind.allCases) func a429BurstIsRateLimitedWithRetryAfter(_ broker: BrokerKind) async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(broker)
        let credentials = SimulatorFixture.credentials(broker)
        fixture.inject(broker, burst429: 2)
        for _ in 0..<2 {
            let error = await brokerError { try await adapter.positions(credentials: credentials) }
            #expect(error.map(ErrorShape.init) == .rateLimited(.seconds(1)), "\(String(describing: error))")
        }
        _ = try await adapter.positions(credentials: credentials)
    }

    @Test(arguments: BrokerKind.allCases) func aHangPastTheTimeout(_ broker: BrokerKind) async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(broker, total: .milliseconds(800))
        let credentials = SimulatorFixture.credentials(broker)
        fixture.inject(broker, hangMilliseconds: 3000, count: 2)
        let order = fixture.marketOrder(broker, key: "sim-hang-\(broker)")
        let placement = await brokerError { try await adapter.placeOrder(order, credentials: credentials) }
        #expect(placement.map(ErrorShape.init) == .unknownOutcome, "\(String(describing: placement))")
        let read = await brokerError { try await adapter.orders(credentials: credentials) }
        #expect(read.map(ErrorShape.init) == .unavailable, "\(String(describing: read))")
    }

    @Test(arguments: BrokerKind.allCases) func anExpiredTokenIsUnauthorized(_ broker: BrokerKind) async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(broker)
        let credentials = SimulatorFixture.credentials(broker)
        #expect(fixture.simulator.exchange.setTokenValid(SimulatorFixture.simBroker(broker), apiKey: SimulatorFixture.opened(broker).apiKey, false))
        let placement = await brokerError { try await adapter.placeOrder(fixture.marketOrder(broker, key: "sim-expired"), credentials: credentials) }
        #expect(placement.map(ErrorShape.init) == .unauthorized, "\(String(describing: placement))")
        let read = await brokerError { try await adapter.trades(since: TradeCursor(), symbols: ["BTCUSDT"], credentials: credentials) }
        #expect(read.map(ErrorShape.init) == .unauthorized, "\(String(describing: read))")
        for error in [placement, read].compactMap({ $0 }) { #expect(!error.isRetryable) }
    }

    @Test(arguments: BrokerKind.allCases) func droppedAfterExecuteIsUnknownThenFoundByClientID(_ broker: BrokerKind) async throws {
        let fixture = try SimulatorFixture()
        let adapter = fixture.adapter(broker)
        let credentials = SimulatorFixture.credentials(broker)
        fixture.inject(broker, method: "POST", path: SimulatorFixture.placementPath(broker), dropAfterExecute: true, count: 1)
        let order = fixture.marketOrder(broker, key: "sim-drop-\(broker)")
        let placement = await brokerError { try await adapter.placeOrder(order, credentials: credentials) }
        #expect(placement.map(ErrorShape.init) == .unknownOutcome, "\(String(describing: placement))")
        // What the order-placer does next: ask by client id before ever sending again.
        let found = try #require(try await adapter.order(clientOrderID: order.clientOrderID, symbol: order.symbol, credentials: credentials))
        #expect(found.clientOrderID == order.clientOrderID)
        #expect(found.status == .filled)
        #expect(fixture.ordersPerClientID(broker, order.clientOrderID) == 1)
    }
}
