import ArgumentParser
import Foundation
import Logging
import TMAnalytics
import TMCore
import TMPostgres
import TMQueue
import TMSync

/// `tm trades`: fills a user records himself (owned by the trades import).
struct Trades: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trades", abstract: "Import fills from a CSV file into an account.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a CSV of fills into a manual account (all or nothing; idempotent by trade id).",
            discussion: """
                The file has a header row naming the columns, in any order:
                  symbol, exchange, side (buy|sell), quantity (> 0), price (> 0), fee (>= 0),
                  time (ISO 8601 with an offset, e.g. 2026-01-05T09:15:00+05:30), trade_id,
                  and optionally category (intraday|swing|long_term, may be empty).
                Decimals are exact (at most nine places). A file with any bad row imports nothing unless
                --skip-bad (then the good rows are imported and the bad ones listed); every bad row is
                reported with its line, field and reason. Re-importing a trade id already stored adds
                nothing; one stored with different content is corrected (and reported). Only manual
                accounts (tm accounts add --broker manual) take imports. Imported trades are announced
                on trade-events, so their user's analytics refresh.
                """)
        @Option(help: "The manual account's id.") var account: String
        @Argument(help: "The CSV file.") var file: String
        @Flag(help: "Import the good rows of a file with bad ones (the bad ones are listed).") var skipBad = false
        @Flag(help: "Print as JSON.") var json = false
        // The queue the events go to: `trade-events`; tests point it at a scratch queue of the same shape.
        @Option(help: .hidden) var eventsQueue = "trade-events"

        struct Output: Encodable {
            var report: TradeImport.Report
            var published: Int
            var waiting: Int
        }

        func run() async throws {
            guard let id = UUID(uuidString: account) else { throw ValidationError("--account: '\(account)' is not an account id (a UUID)") }
            let environment = TMEnvironment.current()
            let report: TradeImport.Report
            do {
                let db = try PostgresConnection.connect(environment: environment)
                defer { db.close() }
                report = try TradeImport(skipBad: skipBad).run(db, account: id, path: file)
            } catch let error as TradeImportError {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(1)
            }
            var published = 0, waiting = 0
            if report.committed, report.events > 0 {
                // The trades are committed: a queue that cannot be reached now leaves their events
                // in the outbox (the next sync-trigger pass sends them), it does not fail the import.
                do {
                    let system = try await QueueSystem.open(checking: [eventsQueue], clientName: "tm-trades-import")
                    defer { system.close() }
                    let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: 1)
                    var outbox = TradeEventOutbox(pool: pool, producer: QueueProducer(redis: system.redis, catalog: system.catalog))
                    outbox.queue = eventsQueue
                    (published, waiting) = await TradeImport.publishEvents(outbox, account: id, logger: Logger(label: "tm.trades.import"))
                    await pool.shutdown()
                } catch {
                    waiting = report.events
                    FileHandle.standardError.write(Data("warning: trade-events not reached (\(error)); the events wait in the outbox\n".utf8))
                }
            }
            if json {
                let encoder = JSONEncoder.pretty
                print(String(decoding: try encoder.encode(Output(report: report, published: published, waiting: waiting)), as: UTF8.self))
            } else {
                printReport(report, published: published, waiting: waiting)
            }
            if !report.committed { throw ExitCode(1) }
        }

        func printReport(_ report: TradeImport.Report, published: Int, waiting: Int) {
            for problem in report.problems { print(problem) }
            if report.problemsNotListed > 0 { print("… and \(report.problemsNotListed) more problem(s)") }
            guard report.committed else {
                let why = report.badRows > 0 ? "\(report.badRows) bad row(s) of \(report.rows)" : "the file cannot be read"
                print("nothing imported: \(why)\(report.badRows > 0 ? " (fix them, or give --skip-bad to import the good rows)" : "")")
                return
            }
            print("imported into \(report.account): \(report.created) new, \(report.corrected) corrected, \(report.unchanged) already stored, "
                  + "\(report.badRows) bad row(s) skipped, of \(report.rows) row(s)")
            if !report.correctedTradeIDs.isEmpty {
                print("corrected (the stored trade had other values): \(report.correctedTradeIDs.joined(separator: ", "))\(report.corrected > report.correctedTradeIDs.count ? ", …" : "")")
            }
            if report.events > 0 {
                print("trade-events: \(published) published\(waiting > 0 ? ", \(waiting) waiting in the outbox (sent by the next sync-trigger pass)" : "")")
            }
        }
    }
}
