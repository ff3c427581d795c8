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
///
/// Only what changed is written (migration 0025): each row carries a digest of everything it
/// stores but its run id; a row whose digest is already stored for the user is left as it is (its
/// `run_id` and `computed_at` stay those of the run that last changed it), every other row is
/// written and every stored row not among the new ones deleted. A day row stores its headline
/// columns without the `report` JSON (AnalyticsCache computes a day's report when asked).
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

    /// In the order a COPY line holds them: what the digest covers, then `run_id` and the digest.
    static let columns = """
        user_id, currency, period, period_start, realized_pnl, unrealized_pnl, total_pnl, fees, net_pnl, \
        gross_profit, gross_loss, closing_fills, wins, losses, break_evens, win_rate, profit_factor, expectancy, \
        sharpe, max_drawdown, max_drawdown_amount, calmar, recovery_factor, fills_count, trading_days, report, run_id, digest
        """

    /// Whether a row of `period` stores the report JSON: not a day's (migration 0025) — 252 of a
    /// year's ~317 rows, whose breakdowns were most of the nightly write.
    public static func storesReport(_ period: AnalyticsPeriod) -> Bool { period != .day }

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
        // Encoded before the transaction: the users' locks are held only for the writing.
        let rows = encode(reports, runID: runID)
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
                // Rows stored with a digest among the new rows' are unchanged: kept, not rewritten.
                let stored = try Self.storedRows(users: ids, on: tx)
                var stale = stored.digests
                var changed: [Range<Int>] = []
                for line in rows.lines where stale.removeValue(forKey: line.digest) == nil {
                    changed.append(line.range)
                }
                // Stale: periods no longer reported, the old versions of changed rows, rows without a digest.
                let deleted = Array(stale.values) + stored.undigested
                if !deleted.isEmpty {
                    let gone = "{" + deleted.map(String.init).joined(separator: ",") + "}"
                    try tx.execute("DELETE FROM analytics WHERE id = ANY(\(gone)::bigint[])")
                }
                guard !changed.isEmpty else { return 0 }
                var data: [UInt8]
                if changed.count == rows.lines.count {
                    data = rows.bytes
                } else {
                    data = []
                    data.reserveCapacity(changed.reduce(0) { $0 + $1.count })
                    for range in changed { data += rows.bytes[range] }
                }
                return try tx.copyIn("COPY analytics (\(Self.columns)) FROM STDIN", data: data)
            case .upsert:
                try tx.simpleQuery("""
                    CREATE TEMP TABLE IF NOT EXISTS analytics_incoming ON COMMIT DELETE ROWS AS
                    SELECT \(Self.columns) FROM analytics WITH NO DATA
                    """)
                let written = rows.lines.isEmpty ? 0 : try tx.copyIn("COPY analytics_incoming (\(Self.columns)) FROM STDIN", data: rows.bytes)
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

    /// The reports as text-format COPY lines, each with its digest and place in `bytes`.
    struct EncodedRows {
        var bytes: [UInt8] = []
        var lines: [(digest: RowDigest, range: Range<Int>)] = []
    }

    func encode(_ reports: [AnalyticsReport], runID: UUID?) -> EncodedRows {
        var rows = EncodedRows()
        rows.lines.reserveCapacity(reports.count)
        rows.bytes.reserveCapacity(reports.count * 400)
        let run = runID.map { Array($0.uuidString.lowercased().utf8) } ?? PostgresCopyText.null
        // A user's ~317 rows share the id's text (formatting a UUID goes through printf).
        var user: (id: UUID, text: [UInt8])?
        for report in reports {
            if user?.id != report.userID { user = (report.userID, Array(report.userID.uuidString.lowercased().utf8)) }
            let start = rows.bytes.count
            let stored = Self.storesReport(report.period)
            let digest = Self.appendRow(report, user: user!.text, run: run, json: stored ? json?(report) : nil, storesReport: stored, to: &rows.bytes)
            rows.lines.append((digest, start..<rows.bytes.count))
        }
        return rows
    }

    /// The ids of every row the users have, by digest; rows without a digest (written before
    /// migration 0025) apart: never unchanged, always replaced. One binary COPY: no text to parse.
    static func storedRows(users ids: String, on connection: PostgresConnection) throws
        -> (digests: [RowDigest: Int64], undigested: [Int64]) {
        var digests: [RowDigest: Int64] = [:]
        var undigested: [Int64] = []
        // COPY binds no parameters: the one literal is the uuid array built from typed `UUID`s.
        _ = try connection.copyOut("""
            COPY (SELECT id, digest FROM analytics WHERE user_id = ANY('\(ids)'::uuid[])) TO STDOUT (FORMAT binary)
            """) { message in
            var reader = try PostgresBinaryCopyReader(message)
            while try reader.nextTuple() != nil {
                let id = try PostgresBinaryCopyReader.int64(reader.requiredField("id"))
                guard let bytes = try reader.field() else {
                    undigested.append(id)
                    continue
                }
                guard let digest = RowDigest(uuidBytes: bytes) else {
                    throw PostgresError(kind: .decoding, message: "a digest of other than 16 bytes", column: "digest")
                }
                digests[digest] = id
            }
        }
        return (digests, undigested)
    }

    /// One text-format COPY line; `json` nil writes the engine's report JSON, `storesReport` false
    /// NULL. Returns the digest of the line up to `run_id` (the key, the figures, the report).
    @discardableResult
    static func appendRow(_ r: AnalyticsReport, user: [UInt8], run: [UInt8], json: JSONValue?, storesReport: Bool,
                          to out: inout [UInt8]) -> RowDigest {
        let start = out.count
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
        if !storesReport {
            out += PostgresCopyText.null
        } else if let json {
            CopyEncoding.appendJSON(json, to: &out)
        } else {
            CopyEncoding.appendReportJSON(r, to: &out)
        }
        tab()
        let digest = out.withUnsafeBytes { RowDigest(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        out += run; tab()
        digest.appendUUIDText(to: &out)
        out.append(UInt8(ascii: "\n"))
        return digest
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
