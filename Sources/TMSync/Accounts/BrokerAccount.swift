import Foundation
import TMBrokers
import TMCore
import TMCrypto
import TMDatabase
import TMPostgres

/// One row of `broker_accounts`, with its credentials still sealed.
///
/// Guarantees: the credentials are opened only inside a broker call (`credentials(keyring:)` returns
/// a `BrokerCredentials` whose values are unsealed on demand, bound to this account and column by
/// the associated data), and nothing here prints them.
public struct BrokerAccount: Sendable {
    public let id: UUID
    public let userID: UUID
    public let broker: BrokerKind
    public let label: String
    public let status: String
    public let cursor: TradeCursor
    public let syncFrequency: Duration
    public let lastSyncAt: Date?
    /// Trade events a sync committed but did not publish (its process died in between).
    public let hasPendingEvents: Bool
    let sealedKey: String?
    let sealedSecret: String?
    let sealedToken: String?

    static let columns = """
        id, user_id, broker, label, status, sync_cursor::text AS cursor,
        extract(epoch FROM sync_frequency)::bigint AS frequency_s, last_sync_at,
        EXISTS (SELECT 1 FROM trade_event_outbox o WHERE o.account_id = broker_accounts.id) AS pending_events, api_key_sealed, api_secret_sealed, access_token_sealed
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        userID = try row.decode("user_id")
        let brokerName: String = try row.decode("broker")
        if brokerName == ManualAccount.broker { throw SyncError.manualAccount(id) }
        guard let broker = BrokerKind(rawValue: brokerName) else { throw SyncError.unknownBroker(brokerName) }
        self.broker = broker
        label = try row.decode("label")
        status = try row.decode("status")
        let cursorText: String = try row.decode("cursor")
        cursor = TradeCursor((try? JSONDecoder().decode([String: String].self, from: Data(cursorText.utf8))) ?? [:])
        syncFrequency = .seconds(try row.decode("frequency_s", as: Int64.self))
        lastSyncAt = try row.decode("last_sync_at")
        hasPendingEvents = try row.decode("pending_events")
        sealedKey = try row.decode("api_key_sealed")
        sealedSecret = try row.decode("api_secret_sealed")
        sealedToken = try row.decode("access_token_sealed")
    }

    public static func load(_ db: PostgresConnection, id: UUID) throws -> BrokerAccount? {
        try db.query(PostgresQuery(unsafeSQL: "SELECT \(columns) FROM broker_accounts WHERE id = $1", binds: [id.postgresData()]).prepared)
            .rows.first.map(BrokerAccount.init(row:))
    }

    /// Credentials that unseal themselves when a broker call builds its request. The sealed values
    /// are parsed here, once (`SecretKeyring.prepare`): each call runs only the AEAD. A value that
    /// cannot be parsed fails each call as it did when parsed per call.
    public func credentials(keyring: SecretKeyring) -> BrokerCredentials {
        let id = self.id
        func prepared(_ sealed: String?, _ field: String) -> Result<SecretKeyring.Prepared, CryptoError>? {
            sealed.map { sealed in Result { () throws(CryptoError) in try keyring.prepare(sealed, associatedData: DemoData.credentialContext(accountID: id, field: field)) } }
        }
        let (key, secret, token) = (prepared(sealedKey, "api_key"), prepared(sealedSecret, "api_secret"), prepared(sealedToken, "access_token"))
        return BrokerCredentials {
            func open(_ sealed: Result<SecretKeyring.Prepared, CryptoError>?) throws -> String? { try sealed.map { try $0.get().openString() } }
            guard let apiKey = try open(key) else { throw SyncError.missingCredential(account: id, field: "api_key") }
            return BrokerCredentials.Opened(apiKey: apiKey, apiSecret: try open(secret), accessToken: try open(token))
        }
    }

    /// The rate-limit budget this account spends: the account's id (never the key itself). Accounts
    /// that share one broker app key share that app's limit at the broker too, which this does not
    /// count together.
    public var budgetKey: String { id.uuidString.lowercased() }

    /// The broker's settlement currency as SQL over a `broker_accounts.broker` column (alpaca USD,
    /// binance USDT, the Indian brokers and manual accounts INR): what an account's amounts are in
    /// when the instrument master does not say.
    public static func currencySQL(broker column: String) -> String {
        "CASE \(column) WHEN 'alpaca' THEN 'USD' WHEN 'binance' THEN 'USDT' ELSE 'INR' END"
    }
}

/// Sync failures that are about the account or its data rather than the broker.
public enum SyncError: Error, CustomStringConvertible, Sendable, RetryClassifying {
    case unknownBroker(String)
    case missingCredential(account: UUID, field: String)
    case unknownAccount(UUID)
    /// A manual account has no broker to sync from (`ManualAccount`).
    case manualAccount(UUID)

    /// Wrong data is not fixed by retrying: dead-letter at once with the reason.
    public var isRetryable: Bool { false }

    public var description: String {
        switch self {
        case .unknownBroker(let name): return "broker_accounts.broker: unknown broker '\(name)'"
        case .missingCredential(let account, let field): return "broker_accounts.\(field)_sealed: missing for account \(account)"
        case .unknownAccount(let id): return "account_id: no broker account \(id)"
        case .manualAccount(let id): return "account_id: \(id) is \(ManualAccount.reason)"
        }
    }
}
