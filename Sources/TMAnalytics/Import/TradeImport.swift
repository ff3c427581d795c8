import Foundation
import Logging
import TMBrokers
import TMPostgres
import TMSync

/// `tm trades import`: a CSV of fills (`TradeCSV`) into a manual account.
///
/// Guarantees:
/// - all or nothing: every row is written in ONE transaction; a file with any bad row (or a bad
///   header) commits nothing, unless `skipBad`, which commits the good rows and lists the bad ones;
///   every refusal says line, field and reason;
/// - idempotent by (account, trade id): re-importing a file adds nothing; a row whose trade id is
///   stored with different content is a correction — the stored trade is updated and the report
///   says so (`corrected`); a trade id twice in one file is refused at its second line;
/// - only manual accounts receive imports: a broker-synced account's trades are the broker's (a
///   sync would fight an import over them), so it is refused;
/// - every created or corrected trade gets a `trade-events` message (the shape a sync sends) in the
///   outbox, in the same transaction: the events exist exactly when the trades do, and are
///   published after the commit (`publishEvents`), so the analytics refresh recomputes the user;
/// - the file streams: it is read a chunk at a time and written a batch at a time, so memory holds
///   one batch and the file's trade ids (for the duplicate check), never the file.
public struct TradeImport {
    public var skipBad: Bool
    /// Rows per INSERT statement.
    public var batchSize: Int
    /// Bad rows listed in the report (all are counted).
    public var problemsListed: Int

    public init(skipBad: Bool = false, batchSize: Int = 1_000, problemsListed: Int = 10_000) {
        self.skipBad = skipBad
        self.batchSize = batchSize
        self.problemsListed = problemsListed
    }

    /// What an import did.
    public struct Report: Sendable, Codable, Equatable {
        public var account: String
        public var user: String
        /// Data lines read (not the header or blank lines).
        public var rows = 0
        /// True when the transaction committed (nothing to write also counts as committed).
        public var committed = false
        public var created = 0
        /// Rows whose trade id was stored with different content: the stored trade was updated.
        public var corrected = 0
        /// Rows already stored as they are: nothing written.
        public var unchanged = 0
        /// Bad rows (left out with `skipBad`; otherwise they stopped the import).
        public var badRows = 0
        /// The problems of the bad rows (up to `problemsListed`), in line order.
        public var problems: [ImportProblem] = []
        /// Problems not listed.
        public var problemsNotListed = 0
        /// The trade ids of the corrections (up to 100).
        public var correctedTradeIDs: [String] = []
        /// `trade-events` messages written to the outbox.
        public var events = 0

        enum CodingKeys: String, CodingKey {
            case account, user, rows, committed, created, corrected, unchanged, events, problems
            case badRows = "bad_rows", problemsNotListed = "problems_not_listed", correctedTradeIDs = "corrected_trade_ids"
        }
    }

    /// Imports `path` into `account`. Throws `TradeImportError` when the account may not receive
    /// imports or the file cannot be read; bad rows are not thrown: they are in the report.
    public func run(_ db: PostgresConnection, account: UUID, path: String) throws -> Report {
        let owner = try Self.manualAccountOwner(db, account: account)
        var lines = try CSVLines(path: path)
        defer { lines.close() }
        var report = Report(account: account.uuidString.lowercased(), user: owner.uuidString.lowercased())
        do {
            let started = report
            report = try db.transaction { db in
                var report = started
                try read(&lines, into: &report, writer: BatchWriter(db: db, account: account, user: owner))
                if report.badRows > 0 && !skipBad { throw Refused(report: report) }
                report.committed = true
                return report
            }
        } catch let refused as Refused {
            // Rolled back: nothing of the file is stored.
            report = refused.report
            report.created = 0
            report.corrected = 0
            report.unchanged = 0
            report.events = 0
            report.correctedTradeIDs = []
        }
        return report
    }

    /// The file's rows, validated, written in batches (until a bad row, unless `skipBad`).
    private func read(_ lines: inout CSVLines, into report: inout Report, writer: BatchWriter) throws {
        func note(_ problems: [ImportProblem]) {
            for problem in problems {
                if report.problems.count < problemsListed { report.problems.append(problem) } else { report.problemsNotListed += 1 }
            }
        }
        func refuse(_ problems: [ImportProblem]) {
            report.badRows += 1
            note(problems)
        }
        var header: TradeCSV.Header?
        while header == nil {
            guard let line = try lines.next() else {
                // A problem of the file, not of a row: nothing can be imported, --skip-bad or not.
                note([ImportProblem(line: max(lines.lineNumber, 1), field: "header", reason: "the file has no header row (see tm trades import --help)")])
                throw Refused(report: report)
            }
            var bytes = line
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }  // a spreadsheet's byte-order mark
            if bytes.allSatisfy({ $0 == UInt8(ascii: " ") }) { continue }
            switch CSVLines.fields(bytes).map({ TradeCSV.header($0, line: lines.lineNumber) }) {
            case .value(let parsed)?: header = parsed
            case .problems(let problems)?:
                note(problems)
                throw Refused(report: report)
            case nil:
                note([ImportProblem(line: lines.lineNumber, field: "header", reason: "unbalanced quotes")])
                throw Refused(report: report)
            }
        }
        var firstLine: [String: Int] = [:]
        var batch: [AnalyticsFill] = []
        batch.reserveCapacity(batchSize)
        func flush() throws {
            // After a bad row without skipBad nothing more is written: it would be rolled back.
            if report.badRows == 0 || skipBad { try writer.write(batch, into: &report) }
            batch.removeAll(keepingCapacity: true)
        }
        while let line = try lines.next() {
            if line.allSatisfy({ $0 == UInt8(ascii: " ") }) { continue }
            report.rows += 1
            let number = lines.lineNumber
            guard let fields = CSVLines.fields(line) else {
                refuse([ImportProblem(line: number, field: "line", reason: "unbalanced quotes")])
                continue
            }
            switch TradeCSV.fill(fields, header: header!, line: number) {
            case .problems(let problems): refuse(problems)
            case .value(let fill):
                if let first = firstLine[fill.brokerTradeID] {
                    refuse([ImportProblem(line: number, field: "trade_id", reason: "duplicate trade id '\(TradeCSV.shown(fill.brokerTradeID))' (first on line \(first))")])
                    continue
                }
                firstLine[fill.brokerTradeID] = number
                batch.append(fill)
                if batch.count >= batchSize { try flush() }
            }
        }
        try flush()
    }

    /// The user of `account`, which must be a manual account.
    static func manualAccountOwner(_ db: PostgresConnection, account: UUID) throws -> UUID {
        guard let row = try db.query("SELECT user_id, broker, status FROM broker_accounts WHERE id = \(account)").rows.first else {
            throw TradeImportError(field: "account", reason: "no account \(account.uuidString.lowercased())")
        }
        let broker: String = try row.decode("broker"), status: String = try row.decode("status")
        guard broker == ManualAccount.broker else {
            throw TradeImportError(field: "account", reason: "\(account.uuidString.lowercased()) is a \(broker) account: its trades come from the broker's sync; "
                                   + "import into a manual account (tm accounts add --broker manual)")
        }
        guard status != "disabled" else { throw TradeImportError(field: "account", reason: "\(account.uuidString.lowercased()) is disabled") }
        return try row.decode("user_id")
    }

    /// Publishes the account's waiting `trade-events` (what an import wrote to the outbox), in
    /// passes until none wait or the queue refuses (then they wait for the next sync-trigger drain).
    /// Returns (published, still waiting).
    public static func publishEvents(_ outbox: TradeEventOutbox, account: UUID, logger: Logger) async -> (published: Int, waiting: Int) {
        var published = 0
        while true {
            let pass = await outbox.publish(account: account, logger: logger)
            published += pass.published
            if pass.refusal != nil || pass.published == 0 || pass.kept > 0 { return (published, pass.kept) }
        }
    }

    /// Thrown inside the transaction to roll it back with the report of why.
    private struct Refused: Error { var report: Report }
}

/// Writes one batch of an import: an upsert by (account, trade id) and the outbox events of what
/// it created or corrected.
struct BatchWriter {
    let db: PostgresConnection
    let account: UUID
    let user: UUID

    func write(_ fills: [AnalyticsFill], into report: inout TradeImport.Report) throws {
        guard !fills.isEmpty else { return }
        var binds: [PostgresData?] = [account.postgresData()]
        binds.reserveCapacity(1 + fills.count * 9)
        var rows: [String] = []
        rows.reserveCapacity(fills.count)
        var byID: [String: AnalyticsFill] = [:]
        for fill in fills {
            let b = binds.count
            rows.append("($\(b + 1)::text, $\(b + 2)::text, $\(b + 3)::text, $\(b + 4)::text, $\(b + 5)::numeric, $\(b + 6)::numeric, "
                        + "$\(b + 7)::numeric, timestamptz 'epoch' + $\(b + 8)::bigint * interval '1 microsecond', $\(b + 9)::text)")
            binds += [fill.brokerTradeID.postgresData(), fill.symbol.postgresData(), fill.exchange.postgresData(),
                      (fill.side == .buy ? "buy" : "sell").postgresData(), "\(fill.quantity)".postgresData(), "\(fill.price)".postgresData(),
                      "\(fill.fee)".postgresData(), fill.timeMicros.postgresData(), fill.category?.rawValue.postgresData()]
            byID[fill.brokerTradeID] = fill
        }
        // A row is written only when it is new or differs from the stored trade (a correction);
        // `xmax = 0` tells an insert from an update.
        let sql = """
            WITH incoming (broker_trade_id, symbol, exchange, side, quantity, price, fees, traded_at, category)
              AS (VALUES \(rows.joined(separator: ", ")))
            INSERT INTO trades (account_id, broker_trade_id, symbol, exchange, side, quantity, price, fees, traded_at, category)
            SELECT $1, i.broker_trade_id, i.symbol, i.exchange, i.side, i.quantity, i.price, i.fees, i.traded_at, i.category FROM incoming i
            ON CONFLICT (account_id, broker_trade_id) DO UPDATE SET
              symbol = EXCLUDED.symbol, exchange = EXCLUDED.exchange, side = EXCLUDED.side, quantity = EXCLUDED.quantity,
              price = EXCLUDED.price, fees = EXCLUDED.fees, traded_at = EXCLUDED.traded_at, category = EXCLUDED.category
            WHERE (trades.symbol, trades.exchange, trades.side, trades.quantity, trades.price, trades.fees, trades.traded_at, trades.category)
                  IS DISTINCT FROM (EXCLUDED.symbol, EXCLUDED.exchange, EXCLUDED.side, EXCLUDED.quantity, EXCLUDED.price, EXCLUDED.fees,
                                    EXCLUDED.traded_at, EXCLUDED.category)
            RETURNING id, broker_trade_id, (xmax = 0) AS created, xmin::text AS version
            """
        var events: [TradeEvent] = []
        for row in try db.query(PostgresQuery(unsafeSQL: sql, binds: binds)).rows {
            let tradeID: String = try row.decode("broker_trade_id")
            let created: Bool = try row.decode("created")
            let fill = byID[tradeID]!
            if created {
                report.created += 1
            } else {
                report.corrected += 1
                if report.correctedTradeIDs.count < 100 { report.correctedTradeIDs.append(tradeID) }
            }
            events.append(TradeEvent(
                created: created, version: try row.decode("version"), accountID: account, userID: user, tradeID: try row.decode("id"),
                brokerTradeID: tradeID, brokerOrderID: "", symbol: fill.symbol, side: fill.side == .buy ? "buy" : "sell",
                quantity: "\(fill.quantity)", price: "\(fill.price)", fee: "\(fill.fee)",
                executedAt: Date(timeIntervalSince1970: Double(fill.timeMicros) / 1_000_000)))
        }
        report.unchanged += fills.count - events.count
        try TradeEventOutbox.record(db, account: account, events: events)
        report.events += events.count
    }
}

/// The import cannot start: the account may not receive imports, or the file cannot be read.
public struct TradeImportError: Error, CustomStringConvertible, Sendable {
    public let field: String
    public let reason: String
    public var description: String { "\(field): \(reason)" }
}
