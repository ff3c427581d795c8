import Foundation
import TMBrokers
import TMCore
import TMCrypto
import TMPostgres
import TMQueue
import TMRedis
import TMSync

/// One account's way to its broker: the adapter behind the shared rate budget and circuit breaker,
/// and credentials that unseal themselves inside each call.
public struct BrokerLine: Sendable {
    public let account: BrokerAccount
    public let adapter: any BrokerAdapter
    public let credentials: BrokerCredentials
    public var broker: BrokerKind { account.broker }
}

/// Opens `BrokerLine`s for the accounts the placer sends to, and keeps them (a resident worker keeps
/// its connections and its accounts warm; the cold placer opens them per invocation).
///
/// Guarantees: credentials stay sealed in memory and are opened only inside a broker call; every
/// call goes through `ResilientBrokerAdapter` (never around the account's budget or an open circuit);
/// `forget` drops an account whose credentials the broker refused, so the next order re-reads them.
public final class BrokerGateway: Sendable {
    private let keyring: SecretKeyring
    private let redis: RedisClient
    private let makeAdapter: @Sendable (BrokerKind) -> any BrokerAdapter
    private let lines = Locked<[UUID: (line: BrokerLine, opened: ContinuousClock.Instant)]>([:])
    /// How long an opened line is kept before its row is read again (a reconnected account's new
    /// credentials, a paused account, are seen within this).
    public let maxAge: Duration
    /// Reports each broker call (`MeasuredBrokerAdapter`), for the router's live speed and reliability.
    private let observe: (@Sendable (BrokerKind, Duration, Bool) -> Void)?
    /// Where each call's admission and its request share one job (nil: two hops).
    private let lanes: BrokerLanes?

    public init(keyring: SecretKeyring, redis: RedisClient, makeAdapter: @escaping @Sendable (BrokerKind) -> any BrokerAdapter,
                observe: (@Sendable (BrokerKind, Duration, Bool) -> Void)? = nil, maxAge: Duration = .seconds(60), lanes: BrokerLanes? = nil) {
        self.maxAge = maxAge
        self.lanes = lanes
        self.keyring = keyring
        self.redis = redis
        self.makeAdapter = makeAdapter
        self.observe = observe
    }

    /// The account's line when it is already open (no database round trip).
    public func cached(_ accountID: UUID) -> BrokerLine? {
        lines.withLock { lines in
            guard let entry = lines[accountID], ContinuousClock.now - entry.opened < maxAge else { return nil }
            return entry.line
        }
    }

    /// The account's line, opened from its row when not yet open. Throws `MessageRejected` for an
    /// account that does not exist (no retry can fix the message).
    public func line(_ accountID: UUID, db: PostgresConnection) throws -> BrokerLine {
        if let line = cached(accountID) { return line }
        let account: BrokerAccount?
        do { account = try BrokerAccount.load(db, id: accountID) } catch let error as SyncError { throw MessageRejected("account_id: \(error)") }
        guard let account else { throw MessageRejected("account_id: no account \(accountID.uuidString.lowercased())") }
        // Measured inside the resilience layer: the router learns the broker's own speed and
        // failures, not our rate-limit waits or the calls an open circuit refused.
        let base = makeAdapter(account.broker)
        let measured: any BrokerAdapter = observe.map { MeasuredBrokerAdapter(base, report: $0) } ?? base
        let line = BrokerLine(account: account, adapter: ResilientBrokerAdapter(measured, budgetKey: account.budgetKey, redis: redis, lanes: lanes),
                              credentials: account.credentials(keyring: keyring))
        lines.withLock { $0[accountID] = (line, ContinuousClock.now) }
        return line
    }

    /// How long until the first of `brokers` lets a call through, as their breakers say now (the
    /// same breakers, with the same settings, as the lines' adapters); zero when one would already;
    /// nil when a breaker cannot be read.
    func circuitRefusal(_ brokers: Set<BrokerKind>) async -> Duration? {
        var soonest: Duration?
        for broker in brokers {
            let refusal: Duration?
            do { refusal = try await CircuitBreaker(name: broker.rawValue, redis: redis).refusal() } catch { return nil }
            guard let left = refusal else { return .zero }
            soonest = min(soonest ?? left, left)
        }
        return soonest
    }

    public func forget(_ accountID: UUID) { _ = lines.withLock { $0.removeValue(forKey: accountID) } }

    /// Runs one broker call; credentials the broker refused are forgotten, so the next order re-reads them.
    /// `distinguishingRefusals`: a call refused at admission (open circuit, spent budget: nothing
    /// sent) throws `BrokerCallRefused` rather than the `BrokerError` other callers see.
    func call<T: Sendable>(_ line: BrokerLine, distinguishingRefusals: Bool = false, _ body: (BrokerLine) async throws -> T) async throws -> T {
        do {
            guard distinguishingRefusals else { return try await body(line) }
            return try await BrokerCallRefused.distinguishing { try await body(line) }
        } catch BrokerError.unauthorized(let reason) {
            forget(line.account.id)
            throw BrokerError.unauthorized(reason: reason)
        }
    }

    /// The broker's own id of an instrument where it places by one (Upstox's instrument key).
    static func brokerToken(_ db: PostgresConnection, broker: BrokerKind, exchange: String, symbol: String) throws -> String? {
        guard broker == .upstox else { return nil }
        return try db.query("""
            SELECT broker_tokens ->> 'upstox' AS token FROM instruments WHERE exchange = \(exchange) AND symbol = \(symbol)
            """).rows.first?.decode("token")
    }

    /// The broker's product word for a product (Kite CNC/MIS/NRML/MTF, Upstox D/I); nil elsewhere.
    static func productWord(_ product: ProductType, for broker: BrokerKind) -> String? {
        switch (broker, product) {
        case (.kite, .delivery): return "CNC"
        case (.kite, .intraday): return "MIS"
        case (.kite, .carryForward): return "NRML"
        case (.kite, .margin): return "MTF"
        case (.upstox, .intraday): return "I"
        case (.upstox, .margin): return "MTF"
        case (.upstox, _): return "D"
        case (.alpaca, _), (.binance, _): return nil
        }
    }
}
