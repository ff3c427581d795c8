import Foundation
import TMCore

/// Where a position's current price came from.
public enum PriceSource: String, Sendable, Hashable, CaseIterable {
    /// The price cache (`CacheKeys.price`): a live price, fresh within its short TTL.
    case cache
    /// No cached price: the account's last fill of the instrument (possibly old).
    case lastFill = "last_fill"
    /// No cached price and no fill: the position's average price (its unrealized P&L reads 0).
    case averagePrice = "average_price"

    /// Anything but a cached price is a fallback, shown as stale.
    public var isStale: Bool { self != .cache }
}

/// Amounts of one currency. Amounts in different currencies are never added up: a user with an
/// Indian and a US account has an INR line and a USD line.
public struct CurrencyTotals: Sendable, Hashable {
    public var currency: String
    public var cash: Decimal = 0
    /// Σ quantity × price × multiplier over open positions (a short counts negative: it is owed),
    /// futures counted at their unrealized P&L (margined: their notional is exposure, not value).
    public var positionsValue: Decimal = 0
    public var unrealizedPnl: Decimal = 0
    /// As the brokers report it with the positions (flat ones of the day included).
    public var realizedPnl: Decimal = 0
    public var dayPnl: Decimal = 0
    /// False when a position held at the previous close has no previous close in the cache: its
    /// overnight move is left out of `dayPnl`.
    public var dayPnlComplete = true
    /// Open positions valued at a fallback price (last fill or average), not a cached one.
    public var fallbackPriced = 0

    public init(currency: String) { self.currency = currency }

    /// Cash plus the positions' market value.
    public var totalValue: Decimal { cash + positionsValue }

    mutating func add(_ other: CurrencyTotals) {
        cash += other.cash
        positionsValue += other.positionsValue
        unrealizedPnl += other.unrealizedPnl
        realizedPnl += other.realizedPnl
        dayPnl += other.dayPnl
        dayPnlComplete = dayPnlComplete && other.dayPnlComplete
        fallbackPriced += other.fallbackPriced
    }
}

/// One open position, valued.
public struct PositionValue: Sendable, Hashable {
    public var accountID: UUID
    public var broker: String
    public var symbol: String
    public var exchange: String
    public var currency: String
    /// Negative for a short.
    public var quantity: Decimal
    public var averagePrice: Decimal
    public var multiplier: Decimal
    public var currentPrice: Decimal
    public var priceSource: PriceSource
    /// Who observed the cached price (`kite`, `manual`, ...); nil for a fallback.
    public var priceFeed: String?
    /// When the price was observed (the cache's `at_ms`, the fill's time); nil for the average price.
    public var priceAtMs: Int64?
    public var previousClose: Decimal?
    /// quantity × current price × multiplier.
    public var marketValue: Decimal
    /// (current − average) × quantity × multiplier: a short gains when the price falls.
    public var unrealizedPnl: Decimal
    public var realizedPnl: Decimal
    public var dayPnl: Decimal
    public var dayPnlComplete: Bool

    /// Milliseconds between the price's observation and `nowMs`; nil when it has no time.
    public func priceAgeMs(nowMs: Int64) -> Int64? { priceAtMs.map { max(0, nowMs - $0) } }
}

/// One broker account's amounts, per currency (what a `portfolio_snapshots` row holds).
public struct AccountValue: Sendable, Hashable {
    public var accountID: UUID
    public var broker: String
    public var label: String
    public var totals: [CurrencyTotals]
}

/// A user's portfolio across all their broker accounts, as `portfolio:<user>` holds it.
///
/// The JSON (`json`, decimals as strings so no reader goes through `Double`):
/// `{"user_id","computed_at_ms","computed_at","day","totals":[{"currency","cash","positions_value",
/// "total_value","unrealized_pnl","realized_pnl","day_pnl","day_pnl_complete","fallback_priced"}],
/// "accounts":[{"account_id","broker","label","totals":[...]}],"positions":[{"account_id","broker",
/// "symbol","exchange","currency","quantity","average_price","multiplier","current_price",
/// "price_source","stale","price_feed","price_at_ms","previous_close","market_value",
/// "unrealized_pnl","realized_pnl","day_pnl","day_pnl_complete"}]}` (`price_feed`, `price_at_ms`,
/// `previous_close` are null when unknown). `computed_at_ms` orders valuations: the cache never
/// replaces a newer one with an older one.
public struct PortfolioValuation: Sendable, Hashable {
    public var userID: UUID
    /// When the valuation began reading (Unix ms): nothing it used is older than the data at that time.
    public var computedAtMs: Int64
    /// The UTC day whose fills make the day P&L (`2026-12-05`).
    public var day: String
    /// Per currency, over every account, sorted by currency.
    public var totals: [CurrencyTotals]
    public var accounts: [AccountValue]
    /// Open positions (quantity ≠ 0), by account, exchange and symbol.
    public var positions: [PositionValue]

    public var json: JSONValue {
        .object([
            ("user_id", .string(userID.uuidString.lowercased())), ("computed_at_ms", .number(String(computedAtMs))),
            ("computed_at", .string(Self.isoMillis(computedAtMs))), ("day", .string(day)),
            ("totals", .array(totals.map(Self.json))),
            ("accounts", .array(accounts.map { account in
                .object([("account_id", .string(account.accountID.uuidString.lowercased())), ("broker", .string(account.broker)),
                         ("label", .string(account.label)), ("totals", .array(account.totals.map(Self.json)))])
            })),
            ("positions", .array(positions.map { p in
                .object([
                    ("account_id", .string(p.accountID.uuidString.lowercased())), ("broker", .string(p.broker)), ("symbol", .string(p.symbol)),
                    ("exchange", .string(p.exchange)), ("currency", .string(p.currency)), ("quantity", Self.text(p.quantity)),
                    ("average_price", Self.text(p.averagePrice)), ("multiplier", Self.text(p.multiplier)), ("current_price", Self.text(p.currentPrice)),
                    ("price_source", .string(p.priceSource.rawValue)), ("stale", .bool(p.priceSource.isStale)), ("price_feed", .optional(p.priceFeed)),
                    ("price_at_ms", p.priceAtMs.map { .number(String($0)) } ?? .null), ("previous_close", p.previousClose.map(Self.text) ?? .null),
                    ("market_value", Self.text(p.marketValue)), ("unrealized_pnl", Self.text(p.unrealizedPnl)),
                    ("realized_pnl", Self.text(p.realizedPnl)), ("day_pnl", Self.text(p.dayPnl)), ("day_pnl_complete", .bool(p.dayPnlComplete)),
                ])
            })),
        ])
    }

    static func json(_ t: CurrencyTotals) -> JSONValue {
        .object([
            ("currency", .string(t.currency)), ("cash", text(t.cash)), ("positions_value", text(t.positionsValue)),
            ("total_value", text(t.totalValue)), ("unrealized_pnl", text(t.unrealizedPnl)), ("realized_pnl", text(t.realizedPnl)),
            ("day_pnl", text(t.dayPnl)), ("day_pnl_complete", .bool(t.dayPnlComplete)), ("fallback_priced", .int(t.fallbackPriced)),
        ])
    }

    static func text(_ value: Decimal) -> JSONValue { .string(DecimalText.plain(value)) }

    static func isoMillis(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// A document that is not what `json` writes.
    public struct Unreadable: Error, CustomStringConvertible {
        public let field: String
        public var description: String { "portfolio JSON: \(field) missing or malformed" }
    }

    /// Reads what `json` wrote.
    public init(json value: JSONValue) throws {
        func string(_ v: JSONValue?, _ field: String) throws -> String {
            guard let text = v?.stringValue else { throw Unreadable(field: field) }
            return text
        }
        func decimal(_ v: JSONValue?, _ field: String) throws -> Decimal {
            guard let number = DecimalText.parse(try string(v, field)) else { throw Unreadable(field: field) }
            return number
        }
        func uuid(_ v: JSONValue?, _ field: String) throws -> UUID {
            guard let id = UUID(uuidString: try string(v, field)) else { throw Unreadable(field: field) }
            return id
        }
        func int64(_ v: JSONValue?, _ field: String) throws -> Int64? {
            guard let v, !v.isNull else { return nil }
            guard case .number(let text) = v, let n = Int64(text) else { throw Unreadable(field: field) }
            return n
        }
        func totals(_ v: JSONValue?) throws -> [CurrencyTotals] {
            try (v?.arrayValue ?? []).map { t in
                var totals = CurrencyTotals(currency: try string(t["currency"], "totals.currency"))
                totals.cash = try decimal(t["cash"], "totals.cash")
                totals.positionsValue = try decimal(t["positions_value"], "totals.positions_value")
                totals.unrealizedPnl = try decimal(t["unrealized_pnl"], "totals.unrealized_pnl")
                totals.realizedPnl = try decimal(t["realized_pnl"], "totals.realized_pnl")
                totals.dayPnl = try decimal(t["day_pnl"], "totals.day_pnl")
                totals.dayPnlComplete = t["day_pnl_complete"]?.boolValue ?? false
                totals.fallbackPriced = t["fallback_priced"]?.intValue ?? 0
                return totals
            }
        }
        userID = try uuid(value["user_id"], "user_id")
        guard let computed = try int64(value["computed_at_ms"], "computed_at_ms") else { throw Unreadable(field: "computed_at_ms") }
        computedAtMs = computed
        day = try string(value["day"], "day")
        self.totals = try totals(value["totals"])
        accounts = try (value["accounts"]?.arrayValue ?? []).map { a in
            AccountValue(accountID: try uuid(a["account_id"], "accounts.account_id"), broker: try string(a["broker"], "accounts.broker"),
                         label: try string(a["label"], "accounts.label"), totals: try totals(a["totals"]))
        }
        positions = try (value["positions"]?.arrayValue ?? []).map { p in
            guard let source = PriceSource(rawValue: try string(p["price_source"], "positions.price_source")) else {
                throw Unreadable(field: "positions.price_source")
            }
            // (JSONValue is nil-literal expressible: `nil` there would be `.null`, not absent.)
            let previousClose: JSONValue? = p["previous_close"].flatMap { $0.isNull ? Optional.none : $0 }
            return PositionValue(
                accountID: try uuid(p["account_id"], "positions.account_id"), broker: try string(p["broker"], "positions.broker"),
                symbol: try string(p["symbol"], "positions.symbol"), exchange: try string(p["exchange"], "positions.exchange"),
                currency: try string(p["currency"], "positions.currency"), quantity: try decimal(p["quantity"], "positions.quantity"),
                averagePrice: try decimal(p["average_price"], "positions.average_price"), multiplier: try decimal(p["multiplier"], "positions.multiplier"),
                currentPrice: try decimal(p["current_price"], "positions.current_price"), priceSource: source,
                priceFeed: p["price_feed"]?.stringValue, priceAtMs: try int64(p["price_at_ms"], "positions.price_at_ms"),
                previousClose: try previousClose.map { try decimal($0, "positions.previous_close") },
                marketValue: try decimal(p["market_value"], "positions.market_value"), unrealizedPnl: try decimal(p["unrealized_pnl"], "positions.unrealized_pnl"),
                realizedPnl: try decimal(p["realized_pnl"], "positions.realized_pnl"), dayPnl: try decimal(p["day_pnl"], "positions.day_pnl"),
                dayPnlComplete: p["day_pnl_complete"]?.boolValue ?? false)
        }
    }

    public init(userID: UUID, computedAtMs: Int64, day: String, totals: [CurrencyTotals], accounts: [AccountValue], positions: [PositionValue]) {
        self.userID = userID
        self.computedAtMs = computedAtMs
        self.day = day
        self.totals = totals
        self.accounts = accounts
        self.positions = positions
    }
}
