import Foundation
import TMCore
import TMOrders
import TMPostgres
import TMQueue
import TMRedis

/// A price alert as a user asks for it (`tm alerts add`).
public struct NewPriceAlert: Sendable {
    /// The user's id or email.
    public var user: String
    public var symbol: String
    /// nil: the one exchange that lists the symbol.
    public var exchange: String?
    public var condition: PriceAlertCondition
    /// A positive decimal (a price, or a percentage for CHANGE_PERCENT), as typed.
    public var threshold: String
    /// Fire again once `cooldown` has passed since the last firing; nil: fire once.
    public var cooldown: Duration?
    public var expiresAt: Date?
    public var note: String?

    public init(user: String, symbol: String, exchange: String? = nil, condition: PriceAlertCondition, threshold: String,
                cooldown: Duration? = nil, expiresAt: Date? = nil, note: String? = nil) {
        self.user = user
        self.symbol = symbol
        self.exchange = exchange
        self.condition = condition
        self.threshold = threshold
        self.cooldown = cooldown
        self.expiresAt = expiresAt
        self.note = note
    }
}

/// Adding, listing and cancelling price alerts, and telling running evaluators about it.
///
/// Guarantees: bad input is refused naming the field and the reason before anything is written
/// (unknown user or instrument, a threshold that is not a positive decimal of at most nine places,
/// an expiry in the past, a cooldown shorter than a second); a cancel moves only an alert that can
/// still fire. After a committed change the caller bumps `CacheKeys.priceAlertsVersion`
/// (`announce`), so running evaluators reload the changed rows before their next batch.
public enum PriceAlerts {
    public static let maxNoteLength = 500

    @discardableResult
    public static func add(_ db: PostgresConnection, _ alert: NewPriceAlert, now: Date = Date()) throws -> PriceAlert {
        let userID = try user(alert.user, in: db)
        let symbol = alert.symbol.trimmingCharacters(in: .whitespaces)
        guard !symbol.isEmpty else { throw PriceAlertInputError("symbol", "must not be empty") }
        let exchange: String
        if let given = alert.exchange {
            exchange = given
            let listed = try db.query("SELECT 1 FROM instruments WHERE symbol = \(symbol) AND exchange = \(exchange)").rows
            guard !listed.isEmpty else { throw PriceAlertInputError("symbol", "unknown instrument '\(symbol)' on \(exchange)") }
        } else {
            exchange = try OrderIntake.exchange(of: symbol, in: db)
        }
        let threshold = try threshold(alert.threshold)
        if let cooldown = alert.cooldown, cooldown < .seconds(1) { throw PriceAlertInputError("cooldown", "must be at least 1s") }
        if let expires = alert.expiresAt, expires <= now { throw PriceAlertInputError("expires", "\(ISO8601DateFormatter().string(from: expires)) is not in the future") }
        let note = alert.note?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let note, note.count > maxNoteLength { throw PriceAlertInputError("note", "is \(note.count) characters; at most \(maxNoteLength)") }
        let cooldownSeconds = alert.cooldown.map { Double($0.milliseconds) / 1000 }
        let id: UUID = try db.query("""
            INSERT INTO price_alerts (user_id, symbol, exchange, condition, threshold, repeat, cooldown, expires_at, note)
            VALUES (\(userID), \(symbol), \(exchange), \(alert.condition.rawValue), \(threshold)::numeric, \(alert.cooldown != nil),
                    make_interval(secs => \(cooldownSeconds)::float8), \(alert.expiresAt), \(note.flatMap { $0.isEmpty ? nil : $0 }))
            RETURNING id
            """).rows[0].decode("id")
        return try show(db, id)!
    }

    /// The threshold as typed, checked: a positive decimal with at most nine places.
    static func threshold(_ text: String) throws -> String {
        guard let value = FixedDecimal(text.trimmingCharacters(in: .whitespaces)) else {
            throw PriceAlertInputError("threshold", "'\(text)' is not a decimal with at most nine places")
        }
        guard value > .zero else { throw PriceAlertInputError("threshold", "must be a positive decimal, not \(text)") }
        return value.description
    }

    /// The user named by `text`: an id, or an email (case-insensitive).
    public static func user(_ text: String, in db: PostgresConnection) throws -> UUID {
        let rows = UUID(uuidString: text) != nil
            ? try db.query("SELECT id FROM users WHERE id = \(UUID(uuidString: text)!)").rows
            : try db.query("SELECT id FROM users WHERE lower(email) = lower(\(text))").rows
        guard let row = rows.first else { throw PriceAlertInputError("user", "no user with id or email '\(text)'") }
        return try row.decode("id")
    }

    public static func show(_ db: PostgresConnection, _ id: UUID) throws -> PriceAlert? {
        try db.query("SELECT \(fragment: PriceAlert.columns) FROM price_alerts a JOIN users u ON u.id = a.user_id WHERE a.id = \(id)")
            .rows.first.map(PriceAlert.init(row:))
    }

    /// Newest first.
    public static func list(_ db: PostgresConnection, user: UUID? = nil, state: PriceAlertState? = nil, limit: Int = 100) throws -> [PriceAlert] {
        try db.query("""
            SELECT \(fragment: PriceAlert.columns) FROM price_alerts a JOIN users u ON u.id = a.user_id
            WHERE (\(user)::uuid IS NULL OR a.user_id = \(user)) AND (\(state?.rawValue)::text IS NULL OR a.state = \(state?.rawValue))
            ORDER BY a.created_at DESC, a.id LIMIT \(limit)
            """).rows.map(PriceAlert.init(row:))
    }

    /// Cancels an alert that can still fire (active, or a repeat alert waiting out its cooldown).
    @discardableResult
    public static func cancel(_ db: PostgresConnection, _ text: String) throws -> PriceAlert {
        guard let id = UUID(uuidString: text) else { throw PriceAlertInputError("id", "'\(text)' is not an alert id (a UUID)") }
        let moved = try db.query("""
            UPDATE price_alerts SET state = 'cancelled' WHERE id = \(id) AND (state = 'active' OR (state = 'triggered' AND repeat)) RETURNING id
            """).rows
        guard let alert = try show(db, id) else { throw PriceAlertInputError("id", "no price alert \(id.uuidString.lowercased())") }
        guard !moved.isEmpty else { throw PriceAlertInputError("id", "alert \(id.uuidString.lowercased()) is \(alert.state.rawValue): nothing to cancel") }
        return alert
    }

    /// Tells running evaluators that alerts changed (after the commit).
    public static func announce(_ redis: RedisClient, key: String = CacheKeys.priceAlertsVersion) async throws { _ = try await redis.send("INCR", key) }

    /// The counter's value (nil: no change ever announced).
    public static func version(_ redis: RedisClient, key: String = CacheKeys.priceAlertsVersion) async throws -> String? { try await redis.send("GET", key).string }
}
