import Foundation
import TMCore
import TMPostgres
import TMQueue
import TMRedis

/// Replaces users' rows of `analytics` with a new set of reports, and drops their cached copies.
///
/// Guarantees: `replace` runs in one transaction — afterwards each of the users has exactly the rows
/// given (stamped with the run id), none of their earlier rows for periods no longer reported
/// (stale rows are deleted, not left behind), and a failure leaves the previous rows untouched.
/// Two replaces of the same user serialize on the user's row lock (`FOR NO KEY UPDATE`), so a
/// nightly chunk and a refresh never interleave into a unique violation; a report for a user who
/// does not exist is refused (what the foreign key did before migration 0022). Undefined figures (nil,
/// or a non-finite ratio) are stored as NULL, never as a made-up number.
public struct ReportWriter: Sendable {
    /// How the rows are replaced; both are atomic and leave the same rows.
    public enum Strategy: String, Sendable, CaseIterable {
        /// DELETE the users' rows, then COPY the new ones straight into `analytics`.
        case deleteAndCopy = "delete-copy"
        /// COPY into a temporary table, upsert (`ON CONFLICT DO UPDATE`), then DELETE the users'
        /// rows the new set does not hold.
        case upsert
    }

    public let strategy: Strategy
    /// The report's JSON (`analytics.report`) when a caller gives its own (tests); nil: the engine's
    /// report JSON (`AnalyticsEngine.writeJSON`), written as bytes straight into the COPY buffer —
    /// no `JSONValue` tree per row, which was most of the write's Swift CPU.
    public let json: (@Sendable (AnalyticsReport) -> JSONValue)?

    /// Rows whose `report` is the engine's report JSON (`AnalyticsEngine.json(report)`).
    public init(strategy: Strategy = .deleteAndCopy) {
        self.strategy = strategy
        self.json = nil
    }

    public init(strategy: Strategy = .deleteAndCopy, json: @escaping @Sendable (AnalyticsReport) -> JSONValue) {
        self.strategy = strategy
        self.json = json
    }

    static let columns = """
        user_id, currency, period, period_start, run_id, realized_pnl, unrealized_pnl, total_pnl, fees, net_pnl, \
        gross_profit, gross_loss, closing_fills, wins, losses, break_evens, win_rate, profit_factor, expectancy, \
        sharpe, max_drawdown, max_drawdown_amount, calmar, recovery_factor, fills_count, trading_days, report
        """

    /// Replaces every row of `users` with `reports` (all of which must belong to `users`). Returns
    /// the rows written.
    @discardableResult
    public func replace(users: [UUID], reports: [AnalyticsReport], runID: UUID?, on connection: PostgresConnection) throws -> Int {
        guard !users.isEmpty else { return 0 }
        let userSet = Set(users)
        if let stray = reports.first(where: { !userSet.contains($0.userID) }) {
            throw PostgresError(kind: .client, message: "a report for user \(stray.userID) outside the users being replaced")
        }
        let ids = PostgresArrayText.uuids(users.sorted { $0.uuidString < $1.uuidString })
        return try connection.transaction { tx in
            // Serialize with any other replace of these users (sorted: no deadlock between chunks).
            // The lock also holds off their deletion until commit, and `analytics` has no foreign key
            // (migration 0022): a user that does not exist is refused here, so no row is orphaned.
            let locked = Set(try tx.query("SELECT id FROM users WHERE id = ANY(\(ids)::uuid[]) ORDER BY id FOR NO KEY UPDATE")
                .rows.map { try $0.decode("id", as: UUID.self) })
            if let missing = reports.first(where: { !locked.contains($0.userID) }) {
                throw PostgresError(kind: .client, message: "a report for user \(missing.userID), who does not exist")
            }
            switch strategy {
            case .deleteAndCopy:
                try tx.execute("DELETE FROM analytics WHERE user_id = ANY(\(ids)::uuid[])")
                return try copy(reports, runID: runID, into: "analytics", on: tx)
            case .upsert:
                try tx.simpleQuery("""
                    CREATE TEMP TABLE IF NOT EXISTS analytics_incoming ON COMMIT DELETE ROWS AS
                    SELECT \(Self.columns) FROM analytics WITH NO DATA
                    """)
                let written = try copy(reports, runID: runID, into: "analytics_incoming", on: tx)
                let updates = Self.columns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                    .filter { !["user_id", "currency", "period", "period_start"].contains($0) }
                    .map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
                try tx.simpleQuery("""
                    INSERT INTO analytics (\(Self.columns)) SELECT \(Self.columns) FROM analytics_incoming
                    ON CONFLICT (user_id, currency, period, period_start) DO UPDATE SET \(updates), computed_at = now()
                    """)
                try tx.execute("""
                    DELETE FROM analytics a WHERE a.user_id = ANY(\(ids)::uuid[]) AND NOT EXISTS (
                        SELECT 1 FROM analytics_incoming n WHERE n.user_id = a.user_id AND n.currency = a.currency
                            AND n.period = a.period AND n.period_start = a.period_start)
                    """)
                return written
            }
        }
    }

    /// Text-format COPY of the reports into `table` (a fixed name of ours, never input).
    private func copy(_ reports: [AnalyticsReport], runID: UUID?, into table: String, on connection: PostgresConnection) throws -> Int {
        guard !reports.isEmpty else { return 0 }
        let run = runID.map { Array($0.uuidString.lowercased().utf8) } ?? PostgresCopyText.null
        return try connection.copyIn("COPY \(table) (\(Self.columns)) FROM STDIN") { writer in
            // A user's ~317 rows share the id's text (formatting a UUID goes through printf).
            var user: (id: UUID, text: [UInt8])?
            for report in reports {
                if user?.id != report.userID { user = (report.userID, Array(report.userID.uuidString.lowercased().utf8)) }
                Self.appendRow(report, user: user!.text, run: run, json: json?(report), to: &writer.buffer)
                try writer.flushIfFull()
            }
        }
    }

    /// One text-format COPY line; `json` nil writes the engine's report JSON.
    static func appendRow(_ r: AnalyticsReport, user: [UInt8], run: [UInt8], json: JSONValue?, to out: inout [UInt8]) {
        func tab() { out.append(UInt8(ascii: "\t")) }
        func null() { out += PostgresCopyText.null; tab() }
        func text(_ value: String) { PostgresCopyText.appendEscaped(value, to: &out); tab() }
        func decimal(_ value: FixedDecimal?) {
            guard let value else { return null() }
            value.write(to: &out)
            tab()
        }
        func double(_ value: Double?) {
            guard let value, value.isFinite else { return null() }
            out += value.description.utf8
            tab()
        }
        func int(_ value: Int) { out += String(value).utf8; tab() }
        out += user; tab()
        text(r.currency)
        out += r.period.rawValue.utf8; tab()
        text(r.periodStart)
        out += run; tab()
        decimal(r.realizedPnL)
        decimal(r.unrealizedPnL)
        decimal(r.totalPnL)
        decimal(r.fees)
        decimal(r.netPnL)
        decimal(r.grossProfit)
        decimal(r.grossLoss)
        int(r.closingFills)
        int(r.wins)
        int(r.losses)
        int(r.breakEvens)
        double(r.winRate)
        double(r.profitFactor)
        decimal(r.expectancy)
        double(r.sharpe)
        double(r.maxDrawdown)
        decimal(r.maxDrawdownAmount)
        double(r.calmar)
        double(r.recoveryFactor)
        int(r.fillsCount)
        int(r.tradingDays)
        if let json {
            CopyEncoding.appendJSON(json, to: &out)
        } else {
            CopyEncoding.appendReportJSON(r, to: &out)
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// Drops the cached copies of the users' analytics (`analytics:<user>:<period>`, every period),
    /// one DEL per key in one round trip (the keys are not hash-tagged: they may live on any slot).
    public static func invalidateCache(users: [UUID], redis: RedisClient) async throws {
        guard !users.isEmpty else { return }
        var commands: [RedisCommand] = []
        commands.reserveCapacity(users.count * AnalyticsPeriod.allCases.count)
        for user in users {
            let id = user.uuidString.lowercased()
            for period in AnalyticsPeriod.allCases {
                commands.append(RedisCommand("DEL", CacheKeys.analytics(user: id, period: period.rawValue)))
            }
        }
        for reply in try await redis.pipeline(commands) { _ = try reply.get() }
    }
}
