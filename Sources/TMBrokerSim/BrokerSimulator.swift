import Foundation
import Logging

/// The broker simulator: one loopback HTTP port serving Kite (`/kite`), Upstox (`/upstox`, also
/// standing in for `api-hft.upstox.com`), Alpaca (`/alpaca`, its market data at `/alpaca-data`) and Binance (`/binance`) with their
/// real paths after the prefix, and the admin API under `/admin`.
///
/// Guarantees: every broker request passes, in order, the configured latency, the fault plan
/// (latency, hang, 429 burst, error, drop after execute), a matching round of the exchange, then
/// the broker's own front end; a background ticker matches resting orders every tick; `stop()`
/// wakes every sleeping request, closes all connections and stops the ticker.
public final class BrokerSimulator: Sendable {
    public struct Configuration: Sendable {
        /// 0 picks a free port.
        public var port: UInt16 = 0
        public var seed: UInt64 = 42
        /// Added to every broker call (not admin calls).
        public var latencyMilliseconds = 0
        public var tickMilliseconds: Int64 = 250
        public var rateLimits = RateLimitPolicy()
        /// Seed the `DemoAccounts` with some history.
        public var demo = false
        public var clock: @Sendable () -> Date = { Date() }

        public init() {}
    }

    public let exchange: Exchange
    public let faults: FaultInjector
    private let server: HTTPServer

    /// The port the simulator listens on.
    public var port: UInt16 { server.port }
    /// `http://127.0.0.1:PORT`; broker base URLs append `/kite`, `/upstox`, `/alpaca`, `/binance`.
    public var baseURL: String { "http://127.0.0.1:\(server.port)" }

    public init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "broker-sim")) throws {
        let exchange = Exchange(configuration: .init(seed: configuration.seed, tickMilliseconds: configuration.tickMilliseconds, clock: configuration.clock))
        let faults = FaultInjector(seed: configuration.seed)
        let limiter = SlidingWindowLimiter(clock: configuration.clock)
        let context = FrontEndContext(exchange: exchange, limiter: limiter, limits: configuration.rateLimits)
        let requests = RequestLog()
        let stopSignal = StopSignal()
        let router = SimulatorRouter(
            frontEnds: [.kite: KiteFrontEnd(context: context), .upstox: UpstoxFrontEnd(context: context),
                        .alpaca: AlpacaFrontEnd(context: context), .binance: BinanceFrontEnd(context: context)],
            admin: AdminAPI(exchange: exchange, faults: faults, limiter: limiter, requests: requests), requests: requests, exchange: exchange, faults: faults,
            latencyMilliseconds: configuration.latencyMilliseconds, stopSignal: stopSignal, logger: logger)
        if configuration.demo { DemoAccounts.seed(into: exchange) }
        self.exchange = exchange
        self.faults = faults
        self.server = try HTTPServer(port: configuration.port, stopSignal: stopSignal, handler: router.handle)
        let tick = Int(configuration.tickMilliseconds)
        // The ticker ends by itself when stop() fires the signal.
        let ticker = Thread {
            while stopSignal.sleep(milliseconds: tick) { exchange.matchResting() }
        }
        ticker.name = "broker-sim-ticker"
        ticker.start()
    }

    deinit { server.stop() }

    /// Stops serving: sleeping requests wake and are dropped, connections close, the ticker ends.
    public func stop() { server.stop() }
}

/// Sends each request to the admin API or to a broker's front end, applying latency and faults.
struct SimulatorRouter: Sendable {
    let frontEnds: [Broker: any BrokerFrontEnd]
    let admin: AdminAPI
    let requests: RequestLog
    let exchange: Exchange
    let faults: FaultInjector
    let latencyMilliseconds: Int
    let stopSignal: StopSignal
    let logger: Logger

    func handle(_ request: HTTPServerRequest) -> HTTPServerResponse? {
        guard let (first, rest) = Self.firstSegment(request.path) else { return notFound(request) }
        if first == "admin" { return admin.respond(to: request) }
        let host = Self.secondHosts[String(first)] ?? (String(first), "")
        guard let broker = Broker(rawValue: host.broker), let frontEnd = frontEnds[broker] else { return notFound(request) }
        let brokerPath = host.pathPrefix + "/" + rest

        let response = answer(request, broker: broker, frontEnd: frontEnd, brokerPath: brokerPath)
        if let response { requests.record(broker, method: request.method, path: brokerPath, status: response.status) }
        return response
    }

    private func answer(_ request: HTTPServerRequest, broker: Broker, frontEnd: any BrokerFrontEnd, brokerPath: String) -> HTTPServerResponse? {
        let plan = faults.plan(broker, method: request.method, path: brokerPath)
        if !plan.ruleIDs.isEmpty {
            logger.info("fault applied", metadata: ["broker": "\(broker.rawValue)", "path": "\(brokerPath)", "rules": "\(plan.ruleIDs.joined(separator: ","))",
                                                    "outcome": "\(plan.outcome)"])
        }
        guard stopSignal.sleep(milliseconds: latencyMilliseconds + plan.latencyMilliseconds),
              stopSignal.sleep(milliseconds: plan.hangMilliseconds) else { return nil }
        switch plan.outcome {
        case .rateLimited: return frontEnd.rateLimitedResponse(retryAfterSeconds: 1)
        case .error(let status): return frontEnd.errorResponse(status: status, message: "Injected fault (HTTP \(status)).")
        case .serve, .dropAfterExecute: break
        }
        exchange.matchResting()
        let response = frontEnd.respond(to: request.withPath(brokerPath))
        // The response is lost after the broker acted on the request: the client sees the connection close.
        return plan.outcome == .dropAfterExecute ? nil : response
    }

    /// The path's first segment and what follows the `/` after it, as
    /// `path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)` gives them (the
    /// rest empty when that gives one segment); nil when the path has no segment. Without the array.
    static func firstSegment(_ path: String) -> (first: Substring, rest: Substring)? {
        let utf8 = path.utf8
        guard ASCIIText.isASCII(utf8) else {
            // Characters, not bytes, outside ASCII: `/` and a combining mark after it are one Character.
            let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: true)
            guard let first = segments.first else { return nil }
            return (first, segments.count > 1 ? segments[1] : path[path.endIndex...])
        }
        guard let start = utf8.firstIndex(where: { $0 != UInt8(ascii: "/") }) else { return nil }
        guard let slash = utf8[start...].firstIndex(of: UInt8(ascii: "/")) else { return (path[start...], path[path.endIndex...]) }
        return (path[start..<slash], path[utf8.index(after: slash)...])
    }

    /// A broker's second host, served by its front end with its paths under a prefix: Alpaca's
    /// market data (`data.alpaca.markets`) at `/alpaca-data`, seen by Alpaca's front end as `/data/...`.
    static let secondHosts: [String: (broker: String, pathPrefix: String)] = ["alpaca-data": ("alpaca", "/data")]

    private func notFound(_ request: HTTPServerRequest) -> HTTPServerResponse {
        .json(404, ["error": .string("no route for \(request.method) \(request.path); brokers are under /kite, /upstox, /alpaca, /binance, admin under /admin")])
    }
}
