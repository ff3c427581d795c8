import Foundation
import TMCore
import TMPostgres

/// The daily `portfolio_snapshots` rows (migration 0018): per broker account, UTC day and currency,
/// the cash, positions value, realized, unrealized and day P&L of a valuation.
///
/// Guarantees: a rerun of a day updates that day's rows (an upsert on the unique key (account,
/// day, currency)), never adds a second one; a row is never replaced by a valuation computed
/// before it (`computed_at`), so a slow, older run cannot roll a newer one back; a currency the
/// account no longer has that day loses its row to the newer run. An account with neither cash
/// nor positions has no row.
public enum PortfolioSnapshots {
    /// Writes `valuation`'s accounts for `valuation.day` in one transaction; returns the rows written.
    @discardableResult
    public static func write(_ db: PostgresConnection, _ valuation: PortfolioValuation) throws -> Int {
        let computedAt = Date(timeIntervalSince1970: Double(valuation.computedAtMs) / 1000)
        let day = valuation.day
        return try db.transaction { db in
            var written = 0
            for account in valuation.accounts {
                for line in account.totals {
                    written += try db.execute("""
                        INSERT INTO portfolio_snapshots (account_id, snapshot_date, currency, cash, positions_value, realized_pnl,
                                                         unrealized_pnl, daily_pnl, daily_pnl_complete, fallback_priced, computed_at)
                        VALUES (\(account.accountID), \(day)::date, \(line.currency), \(line.cash), \(line.positionsValue), \(line.realizedPnl),
                                \(line.unrealizedPnl), \(line.dayPnl), \(line.dayPnlComplete), \(line.fallbackPriced), \(computedAt))
                        ON CONFLICT (account_id, snapshot_date, currency) DO UPDATE SET
                            cash = EXCLUDED.cash, positions_value = EXCLUDED.positions_value, realized_pnl = EXCLUDED.realized_pnl,
                            unrealized_pnl = EXCLUDED.unrealized_pnl, daily_pnl = EXCLUDED.daily_pnl,
                            daily_pnl_complete = EXCLUDED.daily_pnl_complete, fallback_priced = EXCLUDED.fallback_priced,
                            computed_at = EXCLUDED.computed_at
                        WHERE portfolio_snapshots.computed_at <= EXCLUDED.computed_at
                        """)
                }
                let currencies = JSONValue.array(account.totals.map { .string($0.currency) }).text
                try db.execute("""
                    DELETE FROM portfolio_snapshots WHERE account_id = \(account.accountID) AND snapshot_date = \(day)::date
                      AND currency NOT IN (SELECT jsonb_array_elements_text(\(currencies)::jsonb)) AND computed_at <= \(computedAt)
                    """)
            }
            return written
        }
    }
}
