import ArgumentParser
import Foundation
import Logging
import TMCore
import TMMarketData
import TMPortfolio
import TMPostgres
import TMQueue
import TMRedis

/// `tm market-data`: the resident market-data service until SIGTERM or Ctrl-C.
struct MarketDataCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "market-data",
        abstract: "Keep the latest price of every held, ordered or watched instrument in the price cache; publish moves on market-ticks.",
        discussion: """
            Every poll interval (1s; Config/market-data.yaml, TM_MARKET_DATA_INTERVAL) it prices every instrument with a non-zero
            position, an open order or an active price alert through its exchange's providers in order (NSE/BSE: kite, then upstox;
            US equities: alpaca; crypto: binance), writes price:<SYMBOL>:<EXCHANGE> with a short TTL (10s; TM_PRICE_TTL) and the
            previous close, and publishes a tick on market-ticks when the price moved. A failing provider is logged once, and the
            next one serves its exchange.
            """)

    // The queue to publish on: `market-ticks`; tests point it at a scratch queue of the same shape.
    @Option(help: .hidden) var queue = MarketDataService.ticksQueue

    func run() async throws {
        JSONLogHandler.bootstrap()
        // A price move revalues the portfolios of its holders (portfolio:<user>), off the poll's path.
        let moves = PriceMoveRevaluation(valuer: try await PortfolioValuer.open(poolSize: 2))
        let service = try await MarketDataService.open(queue: queue, onMoved: { await moves.submit($0) })
        let config = service.config
        let exchanges = config.providers.keys.sorted().map { "\($0): \(config.providers[$0]!.map(\.rawValue).joined(separator: " > "))" }
        print("market-data: every \(DurationText.format(config.pollInterval)), TTL \(DurationText.format(config.priceTTL)), "
              + "publishing moves on \(queue); providers \(exchanges.joined(separator: ", "))")
        let task = Task { await service.run() }
        TerminationSignals.install { _ in task.cancel() }
        await task.value
    }
}

/// `tm prices [SYMBOL] [--exchange E] [--json]`: the cached prices, with their age and status.
struct Prices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cached latest prices: value, previous close, source, age, and fresh, stale or missing.",
        discussion: """
            Without SYMBOL: every instrument market-data tracks (held, ordered or watched), plus what --exchange narrows to.
            A tracked instrument with no cached price shows as missing; one older than three poll intervals as stale.
            """)

    @Argument(help: "A symbol (e.g. INFY); default: every tracked instrument.") var symbol: String?
    @Option(help: "The exchange (e.g. NSE, NASDAQ, BINANCE).") var exchange: String?
    @Flag(help: "Print as JSON lines.") var json = false

    func run() async throws {
        let environment = TMEnvironment.current()
        let config = try MarketDataConfig.standard(environment: environment)
        let db = try PostgresConnection.connect()
        defer { db.close() }
        var instruments: [(symbol: String, exchange: String)]
        let wantedExchange = exchange?.uppercased()
        if let symbol {
            if let wantedExchange {
                instruments = [(symbol, wantedExchange)]
            } else {
                // The exchanges the symbol is tracked or listed on.
                let tracked = try TrackedInstruments.load(db, limit: 100_000).filter { $0.symbol == symbol }.map { ($0.symbol, $0.exchange) }
                let listed = try db.query("SELECT exchange FROM instruments WHERE symbol = \(symbol) ORDER BY exchange").rows
                    .map { (symbol, try $0.decode("exchange", as: String.self)) }
                instruments = (tracked + listed).reduce(into: []) { out, item in
                    if !out.contains(where: { $0.exchange == item.1 }) { out.append((symbol: item.0, exchange: item.1)) }
                }
                guard !instruments.isEmpty else { throw ValidationError("exchange: \(symbol) is neither tracked nor listed in instruments; give --exchange") }
            }
        } else {
            instruments = try TrackedInstruments.load(db, limit: 100_000).map { ($0.symbol, $0.exchange) }
                .filter { wantedExchange == nil || $0.1 == wantedExchange }
        }
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "tm-prices")
        defer { redis.close() }
        let nowMs = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let rows = try await PriceBoard(pollInterval: config.pollInterval).rows(instruments, cache: PriceCache(redis: redis), nowMs: nowMs)
        if json {
            for row in rows { print(row.json.text) }
            return
        }
        guard !rows.isEmpty else {
            print("no tracked instruments (none held, ordered or watched)")
            return
        }
        let table = [["SYMBOL", "EXCHANGE", "PRICE", "PREV CLOSE", "SOURCE", "AGE", "STATUS"]] + rows.map { row in
            [row.symbol, row.exchange, row.cached.map { DecimalText.plain($0.tick.price) } ?? "-",
             row.cached?.tick.previousClose.map(DecimalText.plain) ?? "-", row.cached?.tick.source ?? "-",
             row.cached.map { Self.age($0.ageMs) } ?? "-", row.status.rawValue]
        }
        let widths = (0..<7).map { column in table.map { $0[column].count }.max() ?? 0 }
        for line in table {
            print(zip(line, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
    }

    static func age(_ ms: Int64) -> String {
        ms < 10_000 ? String(format: "%.1fs", Double(ms) / 1000) : ms < 120_000 ? "\(ms / 1000)s" : "\(ms / 60_000)m"
    }
}

/// `tm ticks publish SYMBOL PRICE`: a tick fed by hand.
struct Ticks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Feed price ticks by hand (as a push feed would).", subcommands: [Publish.self])

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a price to the cache and enqueue its tick on market-ticks (source manual).",
            discussion: "Decimals only (e.g. 1402.55). A bad input prints `field: reason`, writes and enqueues nothing, and exits 1.")

        @Argument(help: "The symbol, e.g. INFY.") var symbol: String
        @Argument(help: "The price, a decimal > 0.") var price: String
        @Option(help: "The exchange (default NSE).") var exchange = "NSE"
        @Option(help: "The previous close, a decimal > 0.") var previousClose: String?
        @Option(help: "How long the cached price lives, in seconds (default: TM_PRICE_TTL, else 10).") var ttl: Int?
        @Flag(help: "Print as JSON.") var json = false
        // The queue to enqueue on: `market-ticks`; tests point it at a scratch queue of the same shape.
        @Option(help: .hidden) var queue = MarketDataService.ticksQueue

        func run() async throws {
            let nowMs = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
            let tick: PriceTick
            do {
                tick = try ManualTick.make(symbol: symbol, exchange: exchange, price: price, previousClose: previousClose, atMs: nowMs)
            } catch let invalid as PriceTick.Invalid {
                FileHandle.standardError.write(Data("\(invalid)\nnothing was written or enqueued\n".utf8))
                throw ExitCode(1)
            }
            let config = try MarketDataConfig.standard()
            let ttlSeconds = ttl ?? Int(config.priceTTL.components.seconds)
            guard ttlSeconds > 0 else {
                FileHandle.standardError.write(Data("ttl: must be a whole number of seconds > 0\nnothing was written or enqueued\n".utf8))
                throw ExitCode(1)
            }
            let system = try await QueueSystem.open(checking: [queue], clientName: "tm-ticks")
            defer { system.close() }
            let stored = try await PriceCache(redis: system.redis).store(tick, ttl: .seconds(ttlSeconds))
            let result = try await QueueProducer(redis: system.redis, catalog: system.catalog)
                .enqueue(queue, OutgoingMessage(payload: Array(tick.json.text.utf8), shardKey: "\(tick.symbol):\(tick.exchange)"))
            if json {
                print(JSONValue.object([("tick", tick.json), ("cached", .bool(stored)), ("message_id", .string(result.id))]).text)
            } else {
                print("published \(tick.symbol):\(tick.exchange) \(DecimalText.plain(tick.price)) on \(queue) (message \(result.id))"
                      + (stored ? "" : "; the cache holds a newer price, left as is"))
            }
        }
    }
}
