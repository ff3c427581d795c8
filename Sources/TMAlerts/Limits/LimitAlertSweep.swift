import Foundation
import Logging
import TMCore
import TMNotify
import TMOrders
import TMPostgres
import TMQueue
import TMRisk

/// Limit alerts: each account's daily loss and daily turnover against its limits, as the order
/// path's risk engine counts them (`RiskBook.dailyUsage`: the same rows, prices and limits), at
/// warning (≥ 80%) and breach (≥ 100%).
///
/// Guarantees:
/// - Once per level per account per limit per day (the UTC day the risk engine counts fills in):
///   the `limit_alert_marks` row, unique on (account, limit, level, day), is inserted in the
///   transaction that writes the alert, so of two sweeps racing one alerts and the other does
///   nothing. A breach reached first also marks the warning, so no stale warning follows it.
/// - Warning: severity WARNING to the user. Breach: severity ERROR to the user, a notification to
///   the `admin` contact role, and the account's own trading state raised to REDUCING through the
///   kill switch (`TradingControls.raise`: audit row, never lowering an operator's HALT), all in
///   that one transaction; after the commit the notifications are announced and the change is
///   announced to the order workers (`TradingControls.announce`), which apply it from their next
///   message.
/// - Accounts under the emergency limits (the limits table unreadable) are skipped: the alert
///   would be about limits nobody set.
///
/// Latency: evaluated on each run of the minute's `alerts-sweep`, so a level is alerted at most a
/// minute (plus the sweep's own time) after the fill or price that reached it.
public struct LimitAlertSweep: AlertSweep {
    public let name = "limits"
    /// Who the trading-state change and the audit row name.
    public static let actor = "system:limit-alerts"

    private let pool: PostgresPool
    private let producer: QueueProducer?
    private let queue: String
    private let batchSize: Int
    /// The `orders` queue's shard count: each shard's watched key carries the announcement.
    private let ordersShards: Int?
    private let logger: Logger

    /// `producer`: announces the notifications and the trading-state change (nil: neither is
    /// announced; the notifier's sweep and the workers' limits poll still find them); `queue`: the
    /// notifications queue (tests use a scratch one); `batchSize`: accounts per risk-book load;
    /// `ordersShards`: the `orders` queue's shards (default: from the producer's catalog, else the
    /// `Queues` folder's, else the count its workers recorded in Redis).
    public init(pool: PostgresPool, producer: QueueProducer?, queue: String = NotificationOutbox.queue, batchSize: Int = 500,
                ordersShards: Int? = nil, logger: Logger = Logger(label: "tm.alerts.limits")) {
        self.pool = pool
        self.producer = producer
        self.ordersShards = ordersShards ?? (try? producer?.catalog.manifest(TradingControls.ordersQueue).shards)
            ?? (try? QueueCatalog.load().manifest(TradingControls.ordersQueue).shards)
        self.queue = queue
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// Returns how many levels fired.
    public func sweep(now: Date) async throws -> Int {
        let accounts = try await pool.withConnection { db in
            try db.query("SELECT id FROM broker_accounts ORDER BY id").rows.map { try $0.decode("id", as: UUID.self) }
        }
        var fired = 0
        for start in stride(from: 0, to: accounts.count, by: batchSize) {
            let batch = Array(accounts[start..<min(start + batchSize, accounts.count)])
            let logger = self.logger
            let usages = try await pool.withConnection { db in
                let book = RiskBook(logger: logger)
                try book.load(db, accounts: batch, now: now)
                return batch.compactMap { book.dailyUsage(account: $0, now: now) }
            }
            for usage in usages where usage.limits.emergencyUntil == nil {
                for limit in DailyLimit.allCases {
                    guard let value = limit.limit(usage.limits), let level = LimitLevel.reached(used: limit.used(usage), limit: value) else { continue }
                    if try await fire(usage, limit, value, level) { fired += 1 }
                }
            }
        }
        return fired
    }

    /// Marks, alerts and (for a breach) reduces, in one transaction; then announces. False when the
    /// level was marked before.
    private func fire(_ usage: DailyLimitUsage, _ limit: DailyLimit, _ value: FixedDecimal, _ level: LimitLevel) async throws -> Bool {
        let day = Self.dayText(usage.day)
        let used = limit.used(usage)
        let effect = try await pool.transaction { db -> LimitAlertEffect? in
            guard let mark: UUID = try Self.mark(db, usage.account, limit, level, day: day, used: used, limit: value) else { return nil }
            if level == .breach { _ = try Self.mark(db, usage.account, limit, .warning, day: day, used: used, limit: value) }
            let account = try db.query("SELECT label, broker FROM broker_accounts WHERE id = \(usage.account)").rows.first
            let label = try account.map { "\(try $0.decode("label", as: String.self)) (\(try $0.decode("broker", as: String.self)))" } ?? ""
            let text = LimitAlertText(limit: limit, level: level, used: used, value: value, day: day, account: usage.account, label: label)
            var effect = LimitAlertEffect()
            if level == .breach {
                effect.change = try TradingControls.raise(db, account: usage.account, to: .reducing, reason: text.reason, by: Self.actor)
                effect.state = try db.query("SELECT trading_state FROM trading_limits WHERE account_id = \(usage.account)").rows.first?
                    .decode("trading_state", as: String.self)
            }
            let user = try NotificationOutbox.insert(db, NewNotification(
                userID: usage.user, kind: "limit_\(level.rawValue)", title: text.title, body: text.body(state: effect.state),
                priority: level == .breach ? .urgent : .high, severity: level == .breach ? .error : .warning,
                payload: text.payload(state: effect.state), dedupKey: "limit_alert:\(mark.uuidString.lowercased())",
                expiresAt: usage.day.addingTimeInterval(86400)))
            effect.notifications += [user].compactMap { $0 }
            if level == .breach, let admin = try NotificationOutbox.insert(db, NewNotification(
                userID: usage.user, kind: "limit_breach_admin", title: text.title, body: text.adminBody(user: usage.user, state: effect.state),
                priority: .urgent, payload: text.payload(state: effect.state), dedupKey: "limit_alert:\(mark.uuidString.lowercased()):admin",
                channels: EscalationPolicy.channels(for: .error), recipientRole: "admin")) {
                effect.notifications.append(admin)
            }
            try db.execute("UPDATE limit_alert_marks SET notification_id = \(user) WHERE id = \(mark)")
            return effect
        }
        guard let effect else { return false }
        await NotificationOutbox.announce(effect.notifications, producer: producer, queue: queue)
        if effect.change != nil, let producer {
            do {
                // Without a manifest, the count the workers recorded; without either, the global
                // value is still announced and the missing raise reported (`ShardCountUnknown`).
                try await TradingControls.announce(producer.redis, shards: ordersShards)
            } catch {
                logger.warning("could not announce the trading-state change; order workers apply it within a second", metadata: ["error": "\(error)"])
            }
        }
        logger.notice("limit alert", metadata: [
            "account": "\(usage.account)", "limit": "\(limit.rawValue)", "level": "\(level.rawValue)", "used": "\(used)", "of": "\(value)", "day": "\(day)",
        ])
        return true
    }

    /// Inserts the mark unless it exists: its id, nil when it existed (the only once-per-day guard).
    private static func mark(_ db: PostgresConnection, _ account: UUID, _ limit: DailyLimit, _ level: LimitLevel, day: String,
                             used: FixedDecimal, limit value: FixedDecimal) throws -> UUID? {
        try db.query("""
            INSERT INTO limit_alert_marks (account_id, limit_kind, level, day, used, limit_value)
            VALUES (\(account), \(limit.rawValue), \(level.rawValue), \(day)::date, \(used.description)::numeric, \(value.description)::numeric)
            ON CONFLICT DO NOTHING RETURNING id
            """).rows.first?.decode("id")
    }

    /// `YYYY-MM-DD` of a UTC midnight.
    static func dayText(_ day: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withFullDate]
        return formatter.string(from: day)
    }
}

/// What one fired level wrote: the notifications to announce and the trading-state change, if any.
struct LimitAlertEffect: Sendable {
    var notifications: [UUID] = []
    var change: TradingStateChange?
    /// The account's own trading state after a breach (`reduce_only`, or `halted` left as it was).
    var state: String?
}

/// The words and payload of one limit alert.
struct LimitAlertText {
    let limit: DailyLimit
    let level: LimitLevel
    let used: FixedDecimal
    let value: FixedDecimal
    let day: String
    let account: UUID
    let label: String

    var percent: String { DecimalText.fixed(used.decimal * 100 / value.decimal, scale: 1) }

    var title: String {
        switch level {
        case .warning: return "\(limit.words.capitalized) at \(percent)% of its limit"
        case .breach: return "\(limit.words.capitalized) limit reached (\(percent)%)"
        }
    }

    /// Why the trading state was raised (the kill switch records it).
    var reason: String { "\(limit.words) \(used) reached the limit \(value) on \(day) (UTC)" }

    func body(state: String?) -> String {
        let what = "Account \(label): today's \(limit.words) is \(used) of the \(value) limit (\(percent)%, UTC day \(day))."
        switch level {
        case .warning: return what + " At 100% the account is set to REDUCING: only orders that reduce a position pass."
        case .breach: return what + " " + Self.consequence(state)
        }
    }

    func adminBody(user: UUID, state: String?) -> String {
        "User \(user.uuidString.lowercased()), account \(account.uuidString.lowercased()) \(label): \(limit.words) \(used) of \(value) "
            + "(\(percent)%, UTC day \(day)). " + Self.consequence(state)
    }

    static func consequence(_ state: String?) -> String {
        state == "halted" ? "The account stays HALTED (set by an operator)." : "Trading is set to REDUCING: only orders that reduce a position pass."
    }

    func payload(state: String?) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("account_id", .string(account.uuidString.lowercased())), ("limit", .string(limit.rawValue)), ("level", .string(level.rawValue)),
            ("used", .number(used.description)), ("limit_value", .number(value.description)), ("percent", .number(percent)), ("day", .string(day)),
        ]
        if let state { members.append(("trading_state", .string(state))) }
        return .object(members)
    }
}
