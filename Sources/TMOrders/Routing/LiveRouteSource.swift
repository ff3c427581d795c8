import Foundation
import TMBrokers
import TMCore
import TMPostgres
import TMRouting

/// The router's live inputs for the accounts a placer serves: for each account, its holder's
/// active broker accounts (loaded from Postgres), and per broker the live call health
/// (`BrokerHealth`, fed by `record`), the circuit as last read (`CircuitWatch`), the fee schedule
/// and the configured liquidity (`RoutingConfig`).
///
/// Guarantees (`RouteSource`'s, kept here): a candidate is an account of the same user as the
/// order's, `active` when last loaded, at a broker that lists the order's exchange — the order's own
/// account first (ties stay where the user sent the order), then the others oldest first;
/// `circuitOpen` is the breaker as `circuits` last read it; latency and error rate come from the
/// calls `record` saw. `candidates` touches memory only (a dictionary look-up and a few candidates;
/// microseconds); `load` and `reload` replace the picture atomically, so a concurrent order sees the
/// old or the new accounts, never a mix. An account that was not loaded has no candidates.
public final class LiveRouteSource: RouteSource {
    public let config: RoutingConfig
    public let health: BrokerHealth
    /// nil: no breaker is consulted (every circuit counts as closed).
    public let circuits: CircuitWatch?
    private let now: @Sendable () -> ContinuousClock.Instant
    private let reachable = Locked<[UUID: [Reachable]]>([:])

    /// One account an order of the keyed account may be sent to.
    struct Reachable: Sendable, Equatable {
        var id: String
        var broker: BrokerKind
    }

    /// `now` is the instant circuits are judged at (injectable for tests).
    public init(config: RoutingConfig = .defaults, health: BrokerHealth = BrokerHealth(), circuits: CircuitWatch? = nil,
                now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.config = config
        self.health = health
        self.circuits = circuits
        self.now = now
    }

    /// Reads, for each of `accounts`, its holder's active broker accounts, and serves exactly these
    /// accounts from now on.
    public func load(_ db: PostgresConnection, accounts: [UUID]) throws {
        let ids = "[" + accounts.map { "\"\($0.uuidString.lowercased())\"" }.joined(separator: ",") + "]"
        let rows = try db.query("""
            SELECT o.id AS owner, s.id, s.broker
            FROM broker_accounts o
            JOIN broker_accounts s ON s.user_id = o.user_id AND s.status = 'active'
            WHERE o.id IN (SELECT jsonb_array_elements_text(\(ids)::jsonb)::uuid)
            ORDER BY o.id, s.id = o.id DESC, s.created_at, s.id
            """).rows
        var table: [UUID: [Reachable]] = Dictionary(uniqueKeysWithValues: accounts.map { ($0, []) })
        for row in rows {
            let owner: UUID = try row.decode("owner"), id: UUID = try row.decode("id"), broker: String = try row.decode("broker")
            // The schema admits only known brokers; one this version does not know is not routable.
            guard let kind = BrokerKind(rawValue: broker) else { continue }
            table[owner, default: []].append(Reachable(id: id.uuidString.lowercased(), broker: kind))
        }
        reachable.withLock { $0 = table }
    }

    /// `load` again for the accounts served now (after accounts were connected, paused or removed).
    public func reload(_ db: PostgresConnection) throws {
        try load(db, accounts: accounts)
    }

    /// The accounts served, sorted.
    public var accounts: [UUID] { reachable.withLock { $0.keys.sorted { $0.uuidString < $1.uuidString } } }

    public func candidates(for order: PlaceOrder) -> [RouteCandidate] { candidates(for: order, price: nil) }

    /// The candidates, with fees of the order valued at `price` (else its limit, else its trigger
    /// price). A market order with no price known has its fees compared at a value of 1: the rates
    /// decide, as the caps do not bind.
    public func candidates(for order: PlaceOrder, price: FixedDecimal?) -> [RouteCandidate] {
        let accounts = reachable.withLock { $0[order.accountID] ?? [] }.filter { config.lists($0.broker, exchange: order.exchange) }
        guard !accounts.isEmpty else { return [] }
        let value = Self.value(of: order, price: price)
        let at = now()
        let stats = accounts.map { health.stats($0.broker) }
        // A broker not yet measured takes the mean of the measured ones: neither favoured nor shunned.
        let measured = stats.compactMap(\.latency)
        let neutral = measured.isEmpty ? Duration.zero : measured.reduce(.zero, +) / measured.count
        return zip(accounts, stats).map { account, stats in
            RouteCandidate(accountID: account.id, broker: account.broker, latency: stats.latency ?? neutral, errorRate: stats.errorRate,
                           fee: config.fees.fee(account.broker, product: order.product, value: value),
                           liquidity: config.liquidity(account.broker, exchange: order.exchange),
                           circuitOpen: circuits?.isOpen(account.broker, at: at) ?? false)
        }
    }

    public func record(broker: BrokerKind, latency: Duration, failed: Bool) {
        health.record(broker: broker, latency: latency, failed: failed)
    }

    static func value(of order: PlaceOrder, price: FixedDecimal?) -> FixedDecimal {
        let quoted = price ?? (order.limitPrice ?? order.triggerPrice).flatMap(FixedDecimal.init(exactly:))
        guard let quoted, let quantity = FixedDecimal(exactly: order.quantity) else { return 1 }
        return quantity * quoted
    }
}
