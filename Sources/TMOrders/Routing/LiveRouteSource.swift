import Foundation
import TMBrokers
import TMCore
import TMPostgres
import TMRouting

/// The router's live inputs for the accounts a placer serves: for each account, its holder's
/// active broker accounts (loaded from Postgres), joined with each broker's live health, circuit,
/// fees and liquidity (`RouteInputs`); `record` feeds the health.
///
/// Guarantees (`RouteSource`'s, kept here): a candidate is an account of the same user as the
/// order's, `active` when last loaded, at a broker that lists the order's exchange — the order's own
/// account first (ties stay where the user sent the order), then the others oldest first;
/// `circuitOpen` is the breaker as the inputs' `CircuitWatch` last read it; latency and error rate
/// come from the calls `record` saw. `candidates` touches memory only (microseconds); `load` and
/// `reload` replace the picture atomically, so a concurrent order sees the old or the new accounts,
/// never a mix. An account that was not loaded has no candidates.
public final class LiveRouteSource: RouteSource {
    public let inputs: RouteInputs
    private let now: @Sendable () -> ContinuousClock.Instant
    private let reachable = Locked<[UUID: [RouteInputs.Account]]>([:])

    /// `now` is the instant circuits are judged at (injectable for tests).
    public init(inputs: RouteInputs = RouteInputs(), now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.inputs = inputs
        self.now = now
    }

    /// Reads, for each of `accounts`, its holder's active broker accounts, and serves exactly these
    /// accounts from now on.
    public func load(_ db: PostgresConnection, accounts: [UUID]) throws {
        let ids = "[" + accounts.map { "\"\(UUIDText.lower($0))\"" }.joined(separator: ",") + "]"
        let rows = try db.query("""
            SELECT o.id AS owner, s.id, s.broker
            FROM broker_accounts o
            JOIN broker_accounts s ON s.user_id = o.user_id AND s.status = 'active'
            WHERE o.id IN (SELECT jsonb_array_elements_text(\(ids)::jsonb)::uuid)
            ORDER BY o.id, s.id = o.id DESC, s.created_at, s.id
            """).rows
        var table: [UUID: [RouteInputs.Account]] = Dictionary(uniqueKeysWithValues: accounts.map { ($0, []) })
        for row in rows {
            let owner: UUID = try row.decode("owner"), id: UUID = try row.decode("id"), broker: String = try row.decode("broker")
            // The schema admits only known brokers; one this version does not know is not routable.
            guard let kind = BrokerKind(rawValue: broker) else { continue }
            table[owner, default: []].append(RouteInputs.Account(id: UUIDText.lower(id), broker: kind))
        }
        reachable.withLock { $0 = table }
    }

    /// Serves `table` (each account's reachable accounts, as `load` would read them) without a
    /// database, for the risk bench. Not for the order path.
    package func install(_ table: [UUID: [RouteInputs.Account]]) {
        reachable.withLock { $0 = table }
    }

    /// `load` again for the accounts served now (after accounts were connected, paused or removed).
    public func reload(_ db: PostgresConnection) throws {
        try load(db, accounts: accounts)
    }

    /// The accounts served, sorted.
    public var accounts: [UUID] { reachable.withLock { $0.keys.sorted(by: UUIDText.precedes) } }

    /// Fees valued at the order's limit (else trigger) price; a market order, whose value only the
    /// risk check knows, has them compared at a value of 1 — the rates decide, the caps do not bind.
    /// (The placer passes the risk check's notional: `candidates(for:value:)`.)
    public func candidates(for order: PlaceOrder) -> [RouteCandidate] {
        candidates(for: order, value: Self.value(of: order))
    }

    /// The candidates, with each broker's fee for an order worth `value` (the risk check's notional).
    public func candidates(for order: PlaceOrder, value: FixedDecimal) -> [RouteCandidate] {
        guard let accounts = reachable.withLock({ $0[order.accountID] }), !accounts.isEmpty else { return [] }
        return inputs.candidates(accounts, exchange: order.exchange, product: order.product, value: value, at: now())
    }

    public func record(broker: BrokerKind, latency: Duration, failed: Bool) {
        inputs.health.record(broker: broker, latency: latency, failed: failed)
    }

    static func value(of order: PlaceOrder) -> FixedDecimal {
        guard let exact = order.exact, let price = exact.limitPrice ?? exact.triggerPrice else { return 1 }
        return exact.quantity * price
    }
}
