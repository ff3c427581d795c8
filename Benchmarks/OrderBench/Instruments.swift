import Foundation
import TMBrokers
import TMCore
import TMOrders
import TMRisk
import TMRouting

/// Total time and count per phase, summed over concurrent calls (for a serial run the sums split the
/// order's time; for a concurrent run they say where the handlers waited).
final class PhaseTimes: Sendable {
    private let sums = Locked<[String: (count: Int, nanos: Int64)]>([:])

    func add(_ phase: String, _ elapsed: Duration) {
        let nanos = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        sums.withLock { $0[phase, default: (0, 0)].count += 1; $0[phase, default: (0, 0)].nanos += nanos }
    }

    func time<T>(_ phase: String, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer { add(phase, ContinuousClock.now - start) }
        return try await body()
    }

    /// Mean microseconds per call and calls, by phase.
    var snapshot: [String: (micros: Double, count: Int)] {
        sums.withLock { $0.mapValues { (Double($0.nanos) / 1000 / Double(max(1, $0.count)), $0.count) } }
    }

    func reset() { sums.withLock { $0 = [:] } }

    /// Calls of one phase so far.
    func count(_ phase: String) -> Int { sums.withLock { $0[phase]?.count ?? 0 } }
}

/// The real adapter (libcurl to broker-sim), timed: the HTTP round trip alone. `ResilientBrokerAdapter`
/// wraps it (inside the resilience layer, as the router's measurements are).
struct TimedAdapter: BrokerAdapter {
    let base: any BrokerAdapter
    let times: PhaseTimes
    var broker: BrokerKind { base.broker }

    func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await times.time("broker HTTP (place)") { try await base.placeOrder(order, credentials: credentials) }
    }
    func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        try await times.time("broker HTTP (look-up)") { try await base.order(clientOrderID: clientOrderID, symbol: symbol, credentials: credentials) }
    }
    func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        try await base.cancelOrder(brokerOrderID: brokerOrderID, symbol: symbol, credentials: credentials)
    }
    func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try await base.modifyOrder(modification, credentials: credentials)
    }
    func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] { try await base.orders(symbols: symbols, credentials: credentials) }
    func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        try await base.trades(since: cursor, symbols: symbols, credentials: credentials)
    }
    func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] { try await base.positions(credentials: credentials) }
    func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] { try await base.funds(credentials: credentials) }
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await base.lastPrices(instruments, credentials: credentials)
    }
}
