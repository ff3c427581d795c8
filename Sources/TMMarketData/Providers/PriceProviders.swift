import Foundation
import TMBrokers
import TMCrypto
import TMPostgres
import TMRedis
import TMSync

/// One broker ready to price: its source (behind the shared rate budget and circuit breaker) and
/// the credentials its calls use.
public struct PriceProvider: Sendable {
    public let broker: BrokerKind
    public let source: any LastPriceSource
    public let credentials: BrokerCredentials
    /// Which account's credentials (and budget) the calls use; nil for Binance's public tickers.
    public let accountID: UUID?

    public init(broker: BrokerKind, source: any LastPriceSource, credentials: BrokerCredentials, accountID: UUID?) {
        self.broker = broker
        self.source = source
        self.credentials = credentials
        self.accountID = accountID
    }
}

/// Why a broker cannot price this cycle (no usable account, no secret key): reported like a failed call.
public struct ProviderUnavailable: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public var description: String { reason }
}

/// Finds, per broker, the account whose credentials price calls use, and wraps the broker's adapter
/// in the shared budget and breaker under that account's budget key (the same budget its syncs
/// and orders spend, so market data never lets the account exceed the broker's limit).
///
/// Which account: the one `Config/market-data.yaml` names under `accounts:` for the broker (it
/// must be active), else the first active account of that broker, oldest first (`created_at`,
/// then id). Binance's tickers are public: with no account they are called without credentials
/// under the budget key `market-data`.
///
/// Guarantees: credentials stay sealed until a call builds its request (`BrokerAccount.credentials`);
/// reasons name the broker and the account id, never a credential.
public struct PriceProviders: Sendable {
    public let pool: PostgresPool
    public let redis: RedisClient
    public let keyring: SecretKeyring?
    public let accounts: [BrokerKind: UUID]
    public let makeAdapter: @Sendable (BrokerKind) -> any BrokerAdapter

    public init(pool: PostgresPool, redis: RedisClient, keyring: SecretKeyring?, accounts: [BrokerKind: UUID] = [:],
                makeAdapter: @escaping @Sendable (BrokerKind) -> any BrokerAdapter) {
        self.pool = pool
        self.redis = redis
        self.keyring = keyring
        self.accounts = accounts
        self.makeAdapter = makeAdapter
    }

    /// The provider of each broker in `brokers`, or why it has none.
    public func resolve(_ brokers: Set<BrokerKind>) async throws -> [BrokerKind: Result<PriceProvider, ProviderUnavailable>] {
        var out: [BrokerKind: Result<PriceProvider, ProviderUnavailable>] = [:]
        for broker in brokers.sorted(by: { $0.rawValue < $1.rawValue }) {
            out[broker] = try await resolve(broker)
        }
        return out
    }

    func resolve(_ broker: BrokerKind) async throws -> Result<PriceProvider, ProviderUnavailable> {
        let configured = accounts[broker]
        let account: BrokerAccount? = try await pool.withConnection { db in
            let id: UUID?
            if let configured {
                id = try db.query("SELECT id FROM broker_accounts WHERE id = \(configured) AND broker = \(broker.rawValue) AND status = 'active'")
                    .rows.first.map { try $0.decode("id") }
            } else {
                id = try db.query("""
                    SELECT id FROM broker_accounts WHERE broker = \(broker.rawValue) AND status = 'active'
                      AND api_key_sealed IS NOT NULL ORDER BY created_at, id LIMIT 1
                    """).rows.first.map { try $0.decode("id") }
            }
            return try id.flatMap { try BrokerAccount.load(db, id: $0) }
        }
        guard let account else {
            if broker == .binance, configured == nil {
                let source = ResilientBrokerAdapter(makeAdapter(broker), budgetKey: "market-data", redis: redis)
                return .success(PriceProvider(broker: broker, source: source, credentials: .plain(apiKey: ""), accountID: nil))
            }
            let which = configured.map { "account \($0.uuidString.lowercased()) (accounts.\(broker.rawValue) in market-data.yaml) is not an active \(broker.rawValue) account" }
                ?? "no active \(broker.rawValue) account"
            return .failure(ProviderUnavailable(reason: "\(broker.rawValue): \(which)"))
        }
        guard let keyring else {
            return .failure(ProviderUnavailable(reason: "\(broker.rawValue): TM_SECRET_KEY is not set, so account credentials cannot be opened"))
        }
        let source = ResilientBrokerAdapter(makeAdapter(broker), budgetKey: account.budgetKey, redis: redis)
        return .success(PriceProvider(broker: broker, source: source, credentials: account.credentials(keyring: keyring), accountID: account.id))
    }
}
