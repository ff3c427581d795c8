import TMCore

extension AnalyticsEngine {
    /// The report as JSON: what `tm analytics show --json` prints, `analytics:<user>:<period>`
    /// caches and `analytics.report` stores. snake_case keys; exact amounts as decimal strings
    /// (never a binary float); ratios as JSON numbers; undefined figures as null; `win_rate` a
    /// fraction 0…1. The breakdowns' members follow the headline fields.
    public static func json(_ report: AnalyticsReport) -> JSONValue {
        func money(_ value: FixedDecimal?) -> JSONValue { value.map { .string($0.description) } ?? .null }
        func int(_ value: Int) -> JSONValue { .number(String(value)) }
        var members: [(key: String, value: JSONValue)] = [
            ("user_id", .string(report.userID.uuidString.lowercased())),
            ("currency", .string(report.currency)),
            ("period", .string(report.period.rawValue)),
            ("period_start", .string(report.periodStart)),
            ("realized_pnl", money(report.realizedPnL)),
            ("unrealized_pnl", money(report.unrealizedPnL)),
            ("total_pnl", money(report.totalPnL)),
            ("fees", money(report.fees)),
            ("net_pnl", money(report.netPnL)),
            ("gross_profit", money(report.grossProfit)),
            ("gross_loss", money(report.grossLoss)),
            ("closing_fills", int(report.closingFills)),
            ("wins", int(report.wins)),
            ("losses", int(report.losses)),
            ("break_evens", int(report.breakEvens)),
            ("win_rate", ReportJSON.number(report.winRate)),
            ("average_win", money(report.averageWin)),
            ("average_loss", money(report.averageLoss)),
            ("largest_win", money(report.largestWin)),
            ("largest_loss", money(report.largestLoss)),
            ("expectancy", money(report.expectancy)),
            ("profit_factor", ReportJSON.number(report.profitFactor)),
            ("max_consecutive_wins", int(report.maxConsecutiveWins)),
            ("max_consecutive_losses", int(report.maxConsecutiveLosses)),
            ("sharpe", ReportJSON.number(report.sharpe)),
            ("max_drawdown", ReportJSON.number(report.maxDrawdown)),
            ("max_drawdown_amount", money(report.maxDrawdownAmount)),
            ("annualized_return", ReportJSON.number(report.annualizedReturn)),
            ("calmar", ReportJSON.number(report.calmar)),
            ("recovery_factor", ReportJSON.number(report.recoveryFactor)),
            ("fills_count", int(report.fillsCount)),
            ("trading_days", int(report.tradingDays)),
            ("average_trades_per_day", ReportJSON.number(report.averageTradesPerDay)),
            ("symbols_traded", int(report.symbolsTraded)),
            ("most_traded_symbol", report.mostTradedSymbol.map { .string($0) } ?? .null),
        ]
        if case .object(let extra) = report.breakdowns { members += extra }
        return .object(members)
    }
}

enum ReportJSON {
    /// A ratio as a JSON number (shortest round-trip text); nil, NaN and infinity as null.
    static func number(_ value: Double?) -> JSONValue {
        guard let value, value.isFinite else { return .null }
        return .number(value == 0 ? "0" : "\(value)")
    }
}
