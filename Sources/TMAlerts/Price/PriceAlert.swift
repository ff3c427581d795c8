import Foundation
import TMCore
import TMOrders
import TMPostgres

/// What a price alert waits for (migration 0016). `price` is a tick's price, `previous` the
/// instrument's price before it, `previous close` the last session's close.
public enum PriceAlertCondition: String, Sendable, CaseIterable, Codable {
    /// price ≥ threshold
    case above
    /// price ≤ threshold
    case below
    /// |price / previous close − 1| × 100 ≥ threshold
    case changePercent = "change_percent"
    /// previous < threshold ≤ price
    case crossUp = "cross_up"
    /// previous > threshold ≥ price
    case crossDown = "cross_down"

    /// For titles: "INFY above 1500", "INFY moved 5% from the previous close".
    func phrase(_ threshold: String) -> String {
        switch self {
        case .above: return "at or above \(threshold)"
        case .below: return "at or below \(threshold)"
        case .changePercent: return "moved \(threshold)% or more from the previous close"
        case .crossUp: return "crossed up through \(threshold)"
        case .crossDown: return "crossed down through \(threshold)"
        }
    }

    var isCross: Bool { self == .crossUp || self == .crossDown }
}

public enum PriceAlertState: String, Sendable, CaseIterable, Codable {
    case active, triggered, cancelled, expired
}

/// Bad input to `tm alerts add|cancel` (or their library form), refused before anything is written:
/// `field: reason`, the same refusal the order commands give (so the CLI reports both one way).
public typealias PriceAlertInputError = OrderCommandError

/// One `price_alerts` row as operators see it.
public struct PriceAlert: Sendable {
    public var id: UUID
    public var userID: UUID
    public var userEmail: String
    public var symbol: String
    public var exchange: String
    public var condition: PriceAlertCondition
    /// Exactly as stored.
    public var threshold: String
    public var state: PriceAlertState
    public var repeats: Bool
    public var cooldownSeconds: Int64?
    public var fireCount: Int
    public var lastSeenPrice: String?
    public var triggeredAt: Date?
    public var triggeredPrice: String?
    public var expiresAt: Date?
    public var expiredAt: Date?
    public var note: String?
    public var createdAt: Date

    /// The columns `init(row:)` reads, for `SELECT ... FROM price_alerts a JOIN users u ON u.id = a.user_id`.
    static let columns: PostgresQuery = """
        a.id, a.user_id, u.email, a.symbol, a.exchange, a.condition, a.threshold::text AS threshold, a.state, a.repeat,
        extract(epoch FROM a.cooldown)::bigint AS cooldown_s, a.fire_count, a.last_seen_price::text AS last_seen_price,
        a.triggered_at, a.triggered_price::text AS triggered_price, a.expires_at, a.expired_at, a.note, a.created_at
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        userID = try row.decode("user_id")
        userEmail = try row.decode("email")
        symbol = try row.decode("symbol")
        exchange = try row.decode("exchange")
        let conditionText: String = try row.decode("condition")
        guard let condition = PriceAlertCondition(rawValue: conditionText) else { throw PostgresDecodingFailure("unknown condition \(conditionText)") }
        self.condition = condition
        threshold = try row.decode("threshold")
        let stateText: String = try row.decode("state")
        guard let state = PriceAlertState(rawValue: stateText) else { throw PostgresDecodingFailure("unknown state \(stateText)") }
        self.state = state
        repeats = try row.decode("repeat")
        cooldownSeconds = try row.decode("cooldown_s")
        fireCount = try row.decode("fire_count")
        lastSeenPrice = try row.decode("last_seen_price")
        triggeredAt = try row.decode("triggered_at")
        triggeredPrice = try row.decode("triggered_price")
        expiresAt = try row.decode("expires_at")
        expiredAt = try row.decode("expired_at")
        note = try row.decode("note")
        createdAt = try row.decode("created_at")
    }

    public var json: JSONValue {
        let iso = ISO8601DateFormatter()
        return .object([
            ("id", .string(id.uuidString.lowercased())), ("user_id", .string(userID.uuidString.lowercased())), ("user", .string(userEmail)),
            ("symbol", .string(symbol)), ("exchange", .string(exchange)), ("condition", .string(condition.rawValue)),
            ("threshold", .string(threshold)), ("state", .string(state.rawValue)), ("repeat", .bool(repeats)),
            ("cooldown", cooldownSeconds.map { .string(DurationText.format(.seconds($0))) } ?? .null), ("fire_count", .number(String(fireCount))),
            ("last_seen_price", .optional(lastSeenPrice)), ("triggered_at", .optional(triggeredAt.map(iso.string))),
            ("triggered_price", .optional(triggeredPrice)), ("expires_at", .optional(expiresAt.map(iso.string))),
            ("expired_at", .optional(expiredAt.map(iso.string))), ("note", .optional(note)), ("created_at", .string(iso.string(from: createdAt))),
        ])
    }
}

/// The conditions on a row that decide firing, re-arming and expiry, written once so the
/// evaluator's transaction and the sweep cannot disagree. `now` is the caller's clock (injected in tests).
enum PriceAlertRules {
    /// Only an active alert that has not expired fires: the guard that makes firing exactly once.
    static func firable(now: Date) -> PostgresQuery {
        "a.state = 'active' AND (a.expires_at IS NULL OR a.expires_at > \(now))"
    }

    /// A repeat alert that fired and whose cooldown has passed (and that has not expired) may go back to active.
    static func rearmable(now: Date) -> PostgresQuery {
        "a.state = 'triggered' AND a.repeat AND a.triggered_at + a.cooldown <= \(now) AND (a.expires_at IS NULL OR a.expires_at > \(now))"
    }

    /// Past its expiry and still able to fire (now or after a cooldown): to be marked expired.
    static func expirable(now: Date) -> PostgresQuery {
        "a.expires_at <= \(now) AND (a.state = 'active' OR (a.state = 'triggered' AND a.repeat))"
    }

    /// Moves the due repeat alerts among `ids` (all when nil) back to active; returns their ids.
    static func rearm(_ db: PostgresConnection, ids: [UUID]?, now: Date) throws -> [UUID] {
        try db.query(rearmStatement(ids: ids, now: now)).rows.map { try $0.decode("id") }
    }

    /// `rearm`'s statement (rows: the re-armed ids), for a caller that sends it with others.
    static func rearmStatement(ids: [UUID]?, now: Date) -> PostgresQuery {
        var scope: PostgresQuery = ""
        if let ids { scope = "a.id = ANY(\(PostgresArrayText.uuids(ids))::uuid[]) AND " }
        return """
            UPDATE price_alerts a SET state = 'active' WHERE \(fragment: scope)\(fragment: rearmable(now: now)) RETURNING a.id
            """
    }
}
