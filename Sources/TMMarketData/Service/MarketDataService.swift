import Foundation
import Logging
import TMBrokers
import TMCore
import TMPostgres
import TMQueue
import TMRedis
import TMRisk

/// What one cycle did.
public struct CycleReport: Sendable {
    /// How many instruments were tracked.
    public var tracked = 0
    /// Who priced each instrument this cycle.
    public var sources: [InstrumentKey: BrokerKind] = [:]
    /// Prices written to the cache (an older observation than the cached one is not).
    public var stored = 0
    /// The ticks published on `market-ticks`: the prices that moved.
    public var published: [PriceTick] = []
    /// Instruments no provider priced this cycle.
    public var unpriced: [InstrumentKey] = []
    /// The brokers whose calls failed this cycle, with the reason.
    public var failures: [BrokerKind: String] = [:]
}

/// The resident `market-data` service: every cycle (1 s by default) it prices every instrument
/// someone holds, orders or watches (`TrackedInstruments`, re-read every few seconds), writes each
/// price to the cache (`PriceCache`, short TTL, with the previous close) and publishes a `PriceTick`
/// on `market-ticks` for each price that moved.
///
/// Guarantees:
/// - **Coin balances.** A coin a Binance account holds (`BTC`) is priced through its USDT pair
///   (`BTCUSDT`, exact: the pair's price as Binance gives it) and cached and published as `BTC`;
///   a coin with no USDT pair stays unpriced.
/// - **Fallback.** Each exchange's instruments go to its first provider (`MarketDataConfig.providers`);
///   when that broker fails (down, rate-limited, open circuit, no usable account) or does not know an
///   instrument, the next provider of the exchange prices it in the same cycle; a tick's `source` is
///   the broker that answered. A broker that failed is not asked again in that cycle.
/// - **Publish on move only.** A tick is published only when its price differs from the last price
///   published for that instrument by this service, and only once the cache took it (an older
///   observation than the cached one is neither stored nor published). A failed publish is retried
///   by the next cycle (the instrument still counts as moved).
/// - **Bounded work.** At most `maxInstruments` instruments; each broker is asked at most once per
///   provider round (rounds ≤ the longest provider list), in batches within its limits, through the
///   shared rate budget and breaker; the previous close is asked (the heavier call) only for
///   instruments whose close is not known for the current UTC day, at most once per
///   `previousCloseRetry` each.
/// - **Robust loop.** A failing broker, a bad instrument, or a failing Postgres/Redis never stops
///   `run()`; each is logged once when it starts failing and once when it works again.
public actor MarketDataService {
    public static let ticksQueue = "market-ticks"

    let pool: PostgresPool
    let cache: PriceCache
    let producer: QueueProducer
    let providers: PriceProviders
    public nonisolated let config: MarketDataConfig
    let queue: String
    let now: @Sendable () -> Int64
    let onMoved: (@Sendable ([PriceTick]) async -> Void)?
    let logger: Logger

    private var tracked: [TrackedInstrument] = []
    private var resolved: [BrokerKind: Result<PriceProvider, ProviderUnavailable>] = [:]
    private var refreshedAtMs: Int64?
    private var lastPublished: [InstrumentKey: Decimal] = [:]
    private var closes: [InstrumentKey: (close: Decimal, day: Int64)] = [:]
    private var closeAskedAtMs: [InstrumentKey: Int64] = [:]
    private var health = StateChangeLog()

    /// - Parameters:
    ///   - now: the clock (Unix ms) ticks are stamped with and intervals measured by (injectable for tests).
    ///   - onMoved: called after each cycle with the ticks that moved (none: not called), e.g. to
    ///     revalue live portfolios.
    public init(pool: PostgresPool, redis: RedisClient, producer: QueueProducer, providers: PriceProviders, config: MarketDataConfig,
                queue: String = MarketDataService.ticksQueue, logger: Logger = Logger(label: "market-data"),
                now: @escaping @Sendable () -> Int64 = { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) },
                onMoved: (@Sendable ([PriceTick]) async -> Void)? = nil) {
        self.pool = pool
        cache = PriceCache(redis: redis)
        self.producer = producer
        self.providers = providers
        self.config = config
        self.queue = queue
        self.logger = logger
        self.now = now
        self.onMoved = onMoved
    }

    /// Runs cycles every `pollInterval` until the task is cancelled.
    public func run() async {
        logger.info("market-data started", metadata: ["poll_interval": "\(DurationText.format(config.pollInterval))",
                                                      "price_ttl": "\(DurationText.format(config.priceTTL))", "queue": "\(queue)"])
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                _ = try await runCycle()
                health.note("market-data cycle", failure: nil, logger: logger)
            } catch {
                health.note("market-data cycle", failure: "\(error)", logger: logger)
            }
            try? await Task.sleep(until: started + config.pollInterval, clock: .continuous)
        }
        logger.info("market-data stopped")
    }

    /// The instruments being tracked now (after the last refresh).
    public var trackedInstruments: [TrackedInstrument] { tracked }

    /// Forces the next cycle to re-read the tracked instruments and the providers' accounts.
    public func invalidate() { refreshedAtMs = nil }

    /// One cycle: refresh what is tracked when due, price it, store, publish what moved.
    @discardableResult
    public func runCycle() async throws -> CycleReport {
        let nowMs = now()
        if refreshedAtMs.map({ nowMs - $0 >= config.refreshInterval.milliseconds }) ?? true { await refresh(nowMs) }
        var report = CycleReport()
        report.tracked = tracked.count
        let priced = await price(nowMs, report: &report)
        for broker in resolved.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            health.note("provider \(broker.rawValue)", failure: report.failures[broker], logger: logger)
        }

        let ticks = priced.map { instrument, answer -> PriceTick in
            PriceTick(symbol: instrument.symbol, exchange: instrument.exchange, price: answer.price.price,
                      previousClose: closes[instrument.key]?.close, source: answer.broker.rawValue, atMs: nowMs)
        }
        let stored = try await cache.store(ticks, ttl: config.priceTTL)
        report.stored = stored.filter { $0 }.count
        let moved = zip(ticks, stored).filter { tick, stored in
            stored && lastPublished[InstrumentKey(symbol: tick.symbol, exchange: tick.exchange)] != tick.price
        }.map(\.0)
        if !moved.isEmpty {
            let messages = moved.map { OutgoingMessage(payload: Array($0.json.text.utf8), shardKey: "\($0.symbol):\($0.exchange)") }
            let results = try await producer.enqueueBatch(queue, messages)
            for (tick, result) in zip(moved, results) {
                switch result {
                case .success:
                    lastPublished[InstrumentKey(symbol: tick.symbol, exchange: tick.exchange)] = tick.price
                    report.published.append(tick)
                case .failure(let error):
                    health.note("publish \(tick.symbol):\(tick.exchange)", failure: "\(error)", logger: logger)
                }
            }
        }
        if !report.published.isEmpty, let onMoved { await onMoved(report.published) }
        return report
    }

    // MARK: Refresh

    private func refresh(_ nowMs: Int64) async {
        do {
            let limit = config.maxInstruments
            let (list, total) = try await pool.withConnection { db in
                let list = try TrackedInstruments.load(db, limit: limit)
                return (list, list.count < limit ? list.count : try TrackedInstruments.count(db))
            }
            tracked = list
            health.note("tracked instruments", failure: total > list.count ? "\(total) tracked, only the first \(list.count) polled (max_instruments)" : nil,
                        logger: logger)
            let keys = Set(list.map(\.key))
            lastPublished = lastPublished.filter { keys.contains($0.key) }
            closes = closes.filter { keys.contains($0.key) }
            closeAskedAtMs = closeAskedAtMs.filter { keys.contains($0.key) }
            let brokers = Set(list.flatMap { config.providers(of: $0.exchange) })
            resolved = try await providers.resolve(brokers)
            refreshedAtMs = nowMs
            health.note("refresh", failure: nil, logger: logger)
        } catch {
            // Keep pricing what was tracked; the next cycle tries again.
            health.note("refresh", failure: "\(error)", logger: logger)
        }
    }

    // MARK: Pricing

    private struct Answer: Sendable {
        var price: LastPrice
        var broker: BrokerKind
    }

    /// Prices every tracked instrument through its exchange's providers, in rounds: each round asks
    /// each broker once for the instruments whose current provider it is; what it failed or did not
    /// know moves to the instrument's next provider for the next round.
    private func price(_ nowMs: Int64, report: inout CycleReport) async -> [(TrackedInstrument, Answer)] {
        let day = nowMs / 86_400_000
        var position = [Int](repeating: 0, count: tracked.count)
        var pending = Array(tracked.indices)
        var answers: [Int: Answer] = [:]
        var unconfigured = Set<String>()
        while !pending.isEmpty {
            var groups: [BrokerKind: [Int]] = [:]
            for index in pending {
                let chain = config.providers(of: tracked[index].exchange)
                if chain.isEmpty { unconfigured.insert(tracked[index].exchange) }
                while position[index] < chain.count, report.failures[chain[position[index]]] != nil { position[index] += 1 }
                guard position[index] < chain.count else {
                    report.unpriced.append(tracked[index].key)
                    continue
                }
                groups[chain[position[index]], default: []].append(index)
            }
            pending = []
            var requests: [(BrokerKind, PriceProvider, closes: [InstrumentRef], plain: [InstrumentRef], byRef: [InstrumentRef: [Int]])] = []
            for (broker, indices) in groups.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                for index in indices { position[index] += 1 }
                switch resolved[broker] {
                case .success(let provider)?:
                    // Several instruments may share one ref (a coin balance BTC and the pair BTCUSDT
                    // both quote as BTCUSDT): asked once, the answer prices each of them.
                    var byRef: [InstrumentRef: [Int]] = [:]
                    var refs: [InstrumentRef] = [], wantClose = Set<InstrumentRef>()
                    for index in indices {
                        let instrument = tracked[index]
                        guard let ref = Self.ref(instrument, for: broker) else {
                            pending.append(index)
                            continue
                        }
                        if byRef[ref] == nil { refs.append(ref) }
                        byRef[ref, default: []].append(index)
                        let known = closes[instrument.key].map { $0.day == day } ?? false
                        let askedRecently = closeAskedAtMs[instrument.key].map { nowMs - $0 < config.previousCloseRetry.milliseconds } ?? false
                        if !known && !askedRecently { wantClose.insert(ref) }
                    }
                    let withClose = refs.filter { wantClose.contains($0) }, plain = refs.filter { !wantClose.contains($0) }
                    if !byRef.isEmpty { requests.append((broker, provider, withClose, plain, byRef)) }
                case .failure(let unavailable)?:
                    report.failures[broker] = unavailable.reason
                    pending += indices
                case nil:
                    report.failures[broker] = "\(broker.rawValue): not resolved yet"
                    pending += indices
                }
            }
            let results = await withTaskGroup(of: (BrokerKind, Result<[LastPrice], BrokerFailure>).self) { group in
                for request in requests {
                    group.addTask { (request.0, await Self.fetch(request.1, withClose: request.closes, plain: request.plain)) }
                }
                var all: [BrokerKind: Result<[LastPrice], BrokerFailure>] = [:]
                for await (broker, result) in group { all[broker] = result }
                return all
            }
            for request in requests {
                let broker = request.0
                switch results[broker] {
                case .success(let prices)?:
                    // Asked and answered: the close is not asked again before `previousCloseRetry`
                    // (a broker that failed leaves it to the next provider, this round).
                    for ref in request.closes { for index in request.byRef[ref] ?? [] { closeAskedAtMs[tracked[index].key] = nowMs } }
                    var answered = Set<Int>()
                    for price in prices where price.price > 0 {
                        for index in request.byRef[price.instrument] ?? [] {
                            answers[index] = Answer(price: price, broker: broker)
                            answered.insert(index)
                            if let close = price.previousClose, close > 0 { closes[tracked[index].key] = (close, day) }
                        }
                    }
                    pending += request.byRef.values.joined().filter { !answered.contains($0) }
                case .failure(let failure)?:
                    report.failures[broker] = failure.reason
                    pending += request.byRef.values.joined()
                case nil:
                    pending += request.byRef.values.joined()
                }
            }
            pending.sort()
        }
        for exchange in unconfigured.sorted() {
            health.note("exchange \(exchange)", failure: "no providers configured (providers.\(exchange) in market-data.yaml)", logger: logger)
        }
        return answers.keys.sorted().map { index in
            report.sources[tracked[index].key] = answers[index]!.broker
            return (tracked[index], answers[index]!)
        }
    }

    struct BrokerFailure: Error, Sendable { let reason: String }

    /// The quotes (with the previous close) of `withClose` and the last prices of `plain`; any
    /// failure fails the broker for this round.
    static func fetch(_ provider: PriceProvider, withClose: [InstrumentRef], plain: [InstrumentRef]) async -> Result<[LastPrice], BrokerFailure> {
        do {
            var prices: [LastPrice] = []
            if !withClose.isEmpty { prices += try await provider.source.quotes(withClose, credentials: provider.credentials) }
            if !plain.isEmpty { prices += try await provider.source.lastPrices(plain, credentials: provider.credentials) }
            return .success(prices)
        } catch {
            return .failure(BrokerFailure(reason: "\(provider.broker.rawValue): \(error)"))
        }
    }

    /// The quote asset a Binance coin balance is priced in: balances are valued in USDT
    /// (`BrokerAccount.currencySQL`), so BTC is priced by BTCUSDT.
    public static let coinQuoteAsset = "USDT"

    /// How `broker` names the instrument; nil when it cannot quote it (Upstox quotes only by
    /// instrument key, from `instruments.broker_tokens`). A Binance coin balance is asked as its
    /// USDT pair; the price is cached and published under the coin's own name.
    static func ref(_ instrument: TrackedInstrument, for broker: BrokerKind) -> InstrumentRef? {
        let token = instrument.brokerTokens[broker.rawValue]
        if broker == .upstox, token == nil, !instrument.symbol.contains("|") { return nil }
        if broker == .binance, instrument.coinBalance {
            return InstrumentRef(symbol: instrument.symbol + coinQuoteAsset, exchange: instrument.exchange, brokerToken: token)
        }
        return InstrumentRef(symbol: instrument.symbol, exchange: instrument.exchange, brokerToken: token)
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
