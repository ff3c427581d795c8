import Foundation
import TMCore
import TMPostgres
import TMRisk

/// The stored limits of some users, as one consistent read: the platform row (global trading state
/// and default limits), the users' own rows and their accounts' rows of `trading_limits`, and the
/// version counter they were read at.
///
/// Guarantees: `limits(account:user:)` is the account's row and the user's row combined (the
/// stricter of each field, the most severe state), with the platform's defaults filling in what
/// neither row limits, the platform's restricted symbols added, and the global trading state
/// applied when it is the more severe one. A global HALT therefore halts every account, whatever its
/// own rows say.
struct LimitRows: Sendable {
    var version: Int64
    var platform: RiskLimits
    var users: [UUID: RiskLimits] = [:]
    var accounts: [UUID: RiskLimits] = [:]

    func limits(account: UUID, user: UUID?) -> RiskLimits {
        let own = (accounts[account] ?? RiskLimits()).combined(with: user.flatMap { users[$0] } ?? RiskLimits())
        return own.filled(from: platform)
    }

    /// The version only: a change of any limit or trading state moves it (0012's triggers). Prepared:
    /// the worker's refresh asks it four times a second.
    static func version(_ db: PostgresConnection) throws -> Int64 {
        let statement: PostgresQuery = "SELECT version FROM trading_controls_version"
        guard let row = try db.query(statement.prepared).rows.first else {
            throw RiskLoadError("trading_controls_version has no row")
        }
        return try row.decode("version")
    }

    /// Reads the version, then the rows it covers, in one snapshot (the caller's transaction, or a
    /// repeatable-read one of its own). Throws when anything cannot be read: the caller then applies
    /// the emergency limits.
    static func read(_ db: PostgresConnection, users: Set<UUID>) throws -> LimitRows {
        try RiskSnapshot.consistent(db) { db in
            var rows = LimitRows(version: try version(db), platform: try platformRow(db))
            for row in try db.query("SELECT user_id, account_id, \(fragment: columns) FROM trading_limits WHERE user_id = ANY(\(RiskSnapshot.uuidArray(users))::uuid[])").rows {
                let limits = try decode(row)
                if let account: UUID = try row.decode("account_id") { rows.accounts[account] = limits } else { rows.users[try row.decode("user_id")] = limits }
            }
            return rows
        }
    }

    private static func platformRow(_ db: PostgresConnection) throws -> RiskLimits {
        guard let row = try db.query("""
            SELECT \(fragment: columns), extract(epoch FROM max_position_age)::text AS max_position_age,
                   extract(epoch FROM duplicate_window)::text AS duplicate_window
            FROM platform_trading_controls
            """).rows.first else {
            throw RiskLoadError("platform_trading_controls has no row: the platform's trading state is unknown")
        }
        var limits = try decode(row)
        limits.maxPositionAge = try seconds(row, "max_position_age")
        limits.duplicateWindow = try seconds(row, "duplicate_window")
        return limits
    }

    /// The limit columns trading_limits and platform_trading_controls share.
    private static let columns: PostgresQuery = """
        trading_state, max_order_quantity::text, max_order_notional::text, price_band_pct::text, max_position_quantity::text,
        max_position_notional::text, max_concentration::text, daily_loss_limit::text, daily_turnover_limit::text, max_open_orders,
        max_orders_per_second, to_json(restricted_symbols)::text AS restricted_symbols
        """

    private static func decode(_ row: PostgresRow) throws -> RiskLimits {
        var limits = RiskLimits()
        let state: String = try row.decode("trading_state")
        guard let tradingState = TradingState(rawValue: state) else { throw RiskLoadError("unknown trading state '\(state)'") }
        limits.tradingState = tradingState
        limits.maxOrderQuantity = try row.fixedDecimal("max_order_quantity")
        limits.maxOrderNotional = try row.fixedDecimal("max_order_notional")
        limits.priceBandPercent = try row.fixedDecimal("price_band_pct")
        limits.maxPositionQuantity = try row.fixedDecimal("max_position_quantity")
        limits.maxPositionNotional = try row.fixedDecimal("max_position_notional")
        limits.maxConcentration = try row.fixedDecimal("max_concentration")
        limits.dailyLossLimit = try row.fixedDecimal("daily_loss_limit")
        limits.dailyTurnoverLimit = try row.fixedDecimal("daily_turnover_limit")
        limits.maxOpenOrders = try row.decode("max_open_orders")
        limits.maxOrdersPerSecond = try row.decode("max_orders_per_second")
        let symbols = try JSONValue.parse(try row.decode("restricted_symbols", as: String.self)).arrayValue ?? []
        limits.restrictedSymbols = Set(symbols.compactMap(\.stringValue))
        return limits
    }

    private static func seconds(_ row: PostgresRow, _ column: String) throws -> Duration {
        let text: String = try row.decode(column)
        guard let value = Double(text) else { throw RiskLoadError("\(column) is not a number of seconds: \(text)") }
        return .milliseconds(Int64((value * 1000).rounded()))
    }
}

extension RiskLimits {
    /// These limits with `defaults` filling in every limit they leave open (nil), the defaults'
    /// restricted symbols added, their position age and duplicate window, and their trading state
    /// when it is the more severe.
    func filled(from defaults: RiskLimits) -> RiskLimits {
        var out = self
        out.tradingState = max(tradingState, defaults.tradingState)
        out.maxOrderQuantity = maxOrderQuantity ?? defaults.maxOrderQuantity
        out.maxOrderNotional = maxOrderNotional ?? defaults.maxOrderNotional
        out.priceBandPercent = priceBandPercent ?? defaults.priceBandPercent
        out.maxPositionQuantity = maxPositionQuantity ?? defaults.maxPositionQuantity
        out.maxPositionNotional = maxPositionNotional ?? defaults.maxPositionNotional
        out.maxConcentration = maxConcentration ?? defaults.maxConcentration
        out.dailyLossLimit = dailyLossLimit ?? defaults.dailyLossLimit
        out.dailyTurnoverLimit = dailyTurnoverLimit ?? defaults.dailyTurnoverLimit
        out.maxOpenOrders = maxOpenOrders ?? defaults.maxOpenOrders
        out.maxOrdersPerSecond = maxOrdersPerSecond ?? defaults.maxOrdersPerSecond
        out.restrictedSymbols = restrictedSymbols.union(defaults.restrictedSymbols)
        out.maxPositionAge = defaults.maxPositionAge
        out.duplicateWindow = defaults.duplicateWindow
        return out
    }
}
