import Foundation
import TMCore
import TMBrokers
import TMCrypto
import TMDatabase
import TMNotify
import TMPostgres

/// What `tm accounts` does to `broker_accounts`: add (sealing the credentials), pause, resume, list,
/// and re-seal every credential under the current key after a key rotation.
///
/// Guarantees: credentials are sealed before they reach SQL (the columns refuse plaintext anyway),
/// bound to their account and column; nothing returned or thrown contains them.
public enum AccountAdministration {
    /// Credentials as an operator hands them over (stdin or a file, never the command line).
    public struct NewCredentials: Sendable {
        public var apiKey: String
        public var apiSecret: String?
        public var accessToken: String?

        public init(apiKey: String, apiSecret: String? = nil, accessToken: String? = nil) {
            self.apiKey = apiKey
            self.apiSecret = apiSecret
            self.accessToken = accessToken
        }

        /// `{"api_key": ..., "api_secret": ..., "access_token": ...}` or `api_key=...` lines.
        public static func parse(_ text: String) throws -> NewCredentials {
            var fields: [String: String] = [:]
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.hasPrefix("{") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any] else {
                    throw AccountError(field: "credentials", reason: "not a JSON object")
                }
                for (key, value) in object {
                    guard let text = value as? String else { throw AccountError(field: key, reason: "must be text") }
                    fields[key] = text
                }
            } else {
                for line in trimmed.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
                    guard let eq = line.firstIndex(of: "=") else { throw AccountError(field: "credentials", reason: "expected key=value lines") }
                    fields[line[..<eq].trimmingCharacters(in: .whitespaces)] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                }
            }
            for key in fields.keys where !["api_key", "api_secret", "access_token"].contains(key) {
                throw AccountError(field: key, reason: "unknown credential (known: api_key, api_secret, access_token)")
            }
            guard let apiKey = fields["api_key"], !apiKey.isEmpty else { throw AccountError(field: "api_key", reason: "required") }
            return NewCredentials(apiKey: apiKey, apiSecret: fields["api_secret"].flatMap { $0.isEmpty ? nil : $0 },
                                  accessToken: fields["access_token"].flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// A bad request, naming the field and the reason (never a credential's value).
    public struct AccountError: Error, CustomStringConvertible, Sendable {
        public let field: String
        public let reason: String
        public var description: String { "\(field): \(reason)" }
    }

    public static func add(_ db: PostgresConnection, keyring: SecretKeyring, userEmail: String, broker: BrokerKind, label: String,
                           credentials: NewCredentials) throws -> UUID {
        try insert(db, userEmail: userEmail, broker: broker.rawValue, label: label) { id in
            func seal(_ value: String?, _ field: String) throws -> String? {
                try value.map { try keyring.seal($0, associatedData: DemoData.credentialContext(accountID: id, field: field)) }
            }
            return (try seal(credentials.apiKey, "api_key"), try seal(credentials.apiSecret, "api_secret"), try seal(credentials.accessToken, "access_token"))
        }
    }

    /// Adds a manual account (`ManualAccount`): no credentials and no broker to call; its trades
    /// come from `tm trades import`.
    public static func addManual(_ db: PostgresConnection, userEmail: String, label: String) throws -> UUID {
        try insert(db, userEmail: userEmail, broker: ManualAccount.broker, label: label) { _ in (nil, nil, nil) }
    }

    /// The one insert of an account; `sealed` seals the credentials for the new account's id.
    private static func insert(_ db: PostgresConnection, userEmail: String, broker: String, label: String,
                               sealed: (UUID) throws -> (key: String?, secret: String?, token: String?)) throws -> UUID {
        guard let user = try db.query("SELECT id FROM users WHERE lower(email) = lower(\(userEmail))").rows.first else {
            throw AccountError(field: "user", reason: "no user with email \(userEmail)")
        }
        let id = UUID()
        let credentials = try sealed(id)
        do {
            try db.execute("""
                INSERT INTO broker_accounts (id, user_id, broker, label, api_key_sealed, api_secret_sealed, access_token_sealed)
                VALUES (\(id), \(try user.decode("id", as: UUID.self)), \(broker), \(label), \(credentials.key), \(credentials.secret), \(credentials.token))
                """)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw AccountError(field: "label", reason: "\(userEmail) already has a \(broker) account labelled '\(label)'")
        }
        return id
    }

    /// Pauses (no syncs) or resumes (due at once, any error cleared) an account; false if unknown.
    public static func setActive(_ db: PostgresConnection, account: UUID, active: Bool) throws -> Bool {
        if active {
            return try db.execute("""
                UPDATE broker_accounts SET status = 'active', error_reason = NULL, next_sync_at = now() WHERE id = \(account) AND status <> 'disabled'
                """) == 1
        }
        return try db.execute("UPDATE broker_accounts SET status = 'paused' WHERE id = \(account) AND status <> 'disabled'") == 1
    }

    /// What `rotateKey` re-sealed, per kind.
    public struct KeyRotation: Sendable {
        /// Broker accounts changed, and their credentials re-sealed.
        public var accounts = 0
        public var credentials = 0
        /// Notification channels' sealed URLs and webhook signing secrets.
        public var channels = NotificationChannels.Resealed()
    }

    /// Re-seals every sealed value not under the keyring's current key — broker credentials and the
    /// notification channels' webhook/Slack URLs and signing secrets — in one transaction: all of
    /// them or none. Run with the new key as TM_SECRET_KEY and the old one in
    /// TM_SECRET_KEYS_PREVIOUS; afterwards the old key can be dropped.
    public static func rotateKey(_ db: PostgresConnection, keyring: SecretKeyring) throws -> KeyRotation {
        try db.transaction { db in
            var rotation = KeyRotation()
            for row in try db.query("SELECT id, api_key_sealed, api_secret_sealed, access_token_sealed FROM broker_accounts FOR UPDATE").rows {
                let id: UUID = try row.decode("id")
                var changed: [String: String?] = [:]
                for field in ["api_key", "api_secret", "access_token"] {
                    guard let sealed: String = try row.decode("\(field)_sealed"), try keyring.needsResealing(sealed) else { continue }
                    changed[field] = try keyring.reseal(sealed, associatedData: DemoData.credentialContext(accountID: id, field: field))
                }
                guard !changed.isEmpty else { continue }
                rotation.accounts += 1
                rotation.credentials += changed.count
                for (field, value) in changed {
                    try db.execute(PostgresQuery(unsafeSQL: "UPDATE broker_accounts SET \(field)_sealed = $1 WHERE id = $2",
                                                 binds: [value?.postgresData(), id.postgresData()]))
                }
            }
            rotation.channels = try NotificationChannels.resealUnderCurrentKey(db, keyring: keyring)
            return rotation
        }
    }

    /// One account as `tm accounts list` shows it, with its last sync's counts.
    public struct Summary: Sendable, Codable {
        public var id: String
        public var user: String
        public var broker: String
        public var label: String
        public var status: String
        public var errorReason: String?
        public var lastSyncAt: Date?
        public var lastOutcome: String?
        public var nextSyncAt: Date
        public var fetched: Int?
        public var created: Int?
        public var updated: Int?
        public var trades: Int
        /// The account's exposure per currency (sum of its positions' exposure); empty when flat.
        public var exposure: [Exposure] = []
        /// What the last finished sync left undone or why it failed (e.g. funds not refreshed); nil when it was ok.
        public var lastSyncError: String? = nil
    }

    /// One line of an account's funds as `tm accounts show` lists it: what its broker last reported
    /// (`account_funds`, replaced by each sync); decimals exact, as text. `asOf` is the sync that
    /// stored it: funds a later sync could not refresh keep their age.
    public struct Funds: Sendable, Codable, Equatable {
        /// Kite/Upstox segment (`equity`, `commodity`); nil where the broker has one account.
        public var segment: String?
        public var currency: String
        /// What new orders may use now.
        public var available: String
        public var cash: String?
        public var used: String?
        public var total: String?
        public var asOf: Date
    }

    /// An account's funds, by segment and currency.
    public static func funds(_ db: PostgresConnection, account: UUID) throws -> [Funds] {
        try db.query("""
            SELECT segment, currency, available, cash, used, total, as_of FROM account_funds
            WHERE account_id = \(account) ORDER BY segment, currency
            """).rows.map { row in
            let segment: String = try row.decode("segment")
            return Funds(segment: segment.isEmpty ? nil : segment, currency: try row.decode("currency"),
                         available: try row.decimalText("available"), cash: try row.optionalDecimalText("cash"),
                         used: try row.optionalDecimalText("used"), total: try row.optionalDecimalText("total"), asOf: try row.decode("as_of"))
        }
    }

    /// What an account holds in one currency: the sum of its positions' exposure
    /// (|quantity| × last price, else average price, × multiplier), exact.
    public struct Exposure: Sendable, Codable, Equatable {
        /// The instrument's currency (`instruments.currency`), else the broker's (INR for Kite and
        /// Upstox, USD for Alpaca, USDT for a Binance balance, priced through its USDT pair).
        public var currency: String?
        /// Exact decimal, as text.
        public var amount: String
        /// Open (non-flat) positions counted.
        public var positions: Int
        /// Of those, positions with no price at all (no last price, average 0 — e.g. Binance balances —
        /// and no cached price given): they add 0, so the amount understates the exposure by what they are worth.
        public var unpriced: Int

        public init(currency: String?, amount: String, positions: Int, unpriced: Int) {
            self.currency = currency
            self.amount = amount
            self.positions = positions
            self.unpriced = unpriced
        }
    }

    /// One position as `tm accounts show` lists it; decimals exact, as text.
    public struct Position: Sendable, Codable, Equatable {
        public var account: String
        public var symbol: String
        public var exchange: String
        public var quantity: String
        public var averagePrice: String
        public var lastPrice: String?
        public var multiplier: String
        public var unrealizedPnl: String?
        public var realizedPnl: String
        /// `positions.exposure`, computed by the database (one definition, migration 0010); for a
        /// position without a price of its own valued at `cachedPrice`, |quantity| × it × multiplier.
        public var exposure: String
        public var currency: String?
        public var asOf: Date
        /// The market-data price (the price cache) a position with no price of its own (no last
        /// price, average 0: a Binance coin balance) is valued at; nil otherwise.
        public var cachedPrice: String?
        var unpriced = false
        var flat = false

        enum CodingKeys: String, CodingKey {
            case account, symbol, exchange, quantity, averagePrice, lastPrice, multiplier, unrealizedPnl, realizedPnl, exposure, currency, asOf,
                 cachedPrice
        }
    }

    /// The (symbol, exchange) of the open positions with no price of their own (no last price,
    /// average 0: Binance coin balances), of one account or of every account: what to look up in
    /// the price cache for `positions(_:account:cachedPrice:)`.
    public static func unpricedInstruments(_ db: PostgresConnection, account: UUID? = nil) throws -> [(symbol: String, exchange: String)] {
        try db.query("""
            SELECT DISTINCT symbol, exchange FROM positions
            WHERE last_price IS NULL AND average_price = 0 AND quantity <> 0 AND (\(account)::uuid IS NULL OR account_id = \(account)::uuid)
            ORDER BY exchange, symbol
            """).rows.map { (symbol: try $0.decode("symbol"), exchange: try $0.decode("exchange")) }
    }

    /// The positions of one account, or of every account (nil), as of their last sync. A position
    /// with no price of its own is valued at `cachedPrice(symbol, exchange)` when that gives one
    /// (exact: |quantity| × price × multiplier), and counts as unpriced otherwise.
    public static func positions(_ db: PostgresConnection, account: UUID? = nil,
                                 cachedPrice: (String, String) -> Decimal? = { _, _ in nil }) throws -> [Position] {
        try db.query("""
            SELECT p.account_id, p.symbol, p.exchange, p.quantity, p.average_price, p.last_price, p.multiplier, p.unrealized_pnl,
                   p.realized_pnl, p.exposure, p.as_of,
                   coalesce(i.currency, CASE a.broker WHEN 'kite' THEN 'INR' WHEN 'upstox' THEN 'INR' WHEN 'alpaca' THEN 'USD'
                                                WHEN 'binance' THEN 'USDT' END) AS currency,
                   (p.last_price IS NULL AND p.average_price = 0) AS unpriced
            FROM positions p JOIN broker_accounts a ON a.id = p.account_id
            LEFT JOIN instruments i ON i.exchange = p.exchange AND i.symbol = p.symbol
            WHERE \(account)::uuid IS NULL OR p.account_id = \(account)::uuid
            ORDER BY p.account_id, p.exchange, p.symbol
            """).rows.map { row in
            let quantity: Decimal = try row.decode("quantity")
            var position = Position(
                account: (try row.decode("account_id", as: UUID.self)).uuidString.lowercased(), symbol: try row.decode("symbol"),
                exchange: try row.decode("exchange"), quantity: DecimalText.plain(quantity), averagePrice: try row.decimalText("average_price"),
                lastPrice: try row.optionalDecimalText("last_price"), multiplier: try row.decimalText("multiplier"),
                unrealizedPnl: try row.optionalDecimalText("unrealized_pnl"), realizedPnl: try row.decimalText("realized_pnl"),
                exposure: try row.decimalText("exposure"), currency: try row.decode("currency"),
                asOf: try row.decode("as_of"), unpriced: try row.decode("unpriced"), flat: quantity == 0)
            if position.unpriced, let price = cachedPrice(position.symbol, position.exchange) {
                let multiplier: Decimal = try row.decode("multiplier")
                position.exposure = DecimalText.plain((quantity < 0 ? -quantity : quantity) * price * multiplier)
                position.cachedPrice = DecimalText.plain(price)
                position.unpriced = false
            }
            return position
        }
    }

    /// Exposure per currency of some positions (flat ones left out), in currency order.
    public static func exposure(_ positions: [Position]) -> [Exposure] {
        var sums: [String?: (Decimal, Int, Int)] = [:]
        for position in positions where !position.flat {
            var sum = sums[position.currency] ?? (0, 0, 0)
            sum.0 += DecimalText.parse(position.exposure) ?? 0
            sum.1 += 1
            sum.2 += position.unpriced ? 1 : 0
            sums[position.currency] = sum
        }
        return sums.map { Exposure(currency: $0.key, amount: DecimalText.plain($0.value.0), positions: $0.value.1, unpriced: $0.value.2) }
            .sorted { ($0.currency ?? "~") < ($1.currency ?? "~") }
    }

    /// Every account (or one), with its last sync's counts and its exposure (positions without a
    /// price of their own valued at `cachedPrice`, as `positions` does).
    public static func list(_ db: PostgresConnection, account: UUID? = nil,
                            cachedPrice: (String, String) -> Decimal? = { _, _ in nil }) throws -> [Summary] {
        let held = Dictionary(grouping: try positions(db, account: account, cachedPrice: cachedPrice), by: \.account)
        return try db.query("""
            SELECT a.id, u.email, a.broker, a.label, a.status, a.error_reason, a.last_sync_at, a.last_sync_outcome, a.next_sync_at,
                   l.fetched_count, l.created_count, l.updated_count, l.error AS last_sync_error,
                   (SELECT count(*)::int FROM trades t WHERE t.account_id = a.id) AS trades
            FROM broker_accounts a JOIN users u ON u.id = a.user_id AND (\(account)::uuid IS NULL OR a.id = \(account)::uuid)
            LEFT JOIN LATERAL (SELECT fetched_count, created_count, updated_count, error FROM sync_logs s
                               WHERE s.account_id = a.id AND s.outcome IS NOT NULL ORDER BY s.started_at DESC LIMIT 1) l ON true
            ORDER BY u.email, a.broker, a.label
            """).rows.map { row in
            let id = (try row.decode("id", as: UUID.self)).uuidString.lowercased()
            return Summary(id: id, user: try row.decode("email"), broker: try row.decode("broker"),
                    label: try row.decode("label"), status: try row.decode("status"), errorReason: try row.decode("error_reason"),
                    lastSyncAt: try row.decode("last_sync_at"), lastOutcome: try row.decode("last_sync_outcome"), nextSyncAt: try row.decode("next_sync_at"),
                    fetched: try row.decode("fetched_count"), created: try row.decode("created_count"), updated: try row.decode("updated_count"),
                    trades: try row.decode("trades"), exposure: exposure(held[id] ?? []), lastSyncError: try row.decode("last_sync_error"))
        }
    }
}

extension PostgresRow {
    /// A numeric column as exact text (`DecimalText.plain`), as `tm accounts` prints and encodes it.
    fileprivate func decimalText(_ column: String) throws -> String { DecimalText.plain(try decode(column, as: Decimal.self)) }

    fileprivate func optionalDecimalText(_ column: String) throws -> String? {
        try decode(column, as: Decimal?.self).map(DecimalText.plain)
    }
}
