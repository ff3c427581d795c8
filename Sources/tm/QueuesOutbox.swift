import ArgumentParser
import Foundation
import TMCore
import TMOrders
import TMPostgres
import TMSync

/// `tm queues outbox`: the trade-events outbox's quarantine — the rows the relay could not read, and
/// those waiting behind them for their accounts' order — and the operator's ways out of it.
struct QueuesOutbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "List the trade-events outbox rows the relay set aside; show, replay or drop one.",
        discussion: """
            A row the relay cannot read (a text batch line without its key) is quarantined with the reason
            naming the row and the line; the later rows of the accounts it names wait behind it (per-account
            order), every other row is relayed. Fix the row, then `replay` it (it and the waiting rows go back
            to the outbox in their places), or `drop` it (its events are counted in trade_event_outbox_drops).
            """,
        subcommands: [List.self, Show.self, Replay.self, Drop.self],
        defaultSubcommand: List.self)

    /// Runs `body` with a connection; a refusal or an error is printed and exits 1.
    static func withDatabase(_ body: (PostgresConnection) throws -> Void) async throws {
        try await Orders.refusing(nothing: "nothing was changed") {
            let db = try PostgresConnection.connect()
            defer { db.close() }
            do {
                try body(db)
            } catch let refusal as TradeEventOutbox.QuarantineError {
                throw OrderCommandError("id", refusal.description)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The quarantined and waiting rows, in relay order.")
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            try await QueuesOutbox.withDatabase { db in
                let rows = try TradeEventOutbox.quarantined(db)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    return print(String(decoding: try encoder.encode(rows), as: UTF8.self))
                }
                guard !rows.isEmpty else { return print("no trade_event_outbox row is quarantined") }
                for row in rows {
                    let accounts = row.accounts.isEmpty ? "no readable account" : row.accounts.joined(separator: ", ")
                    print("\(row.id)  \(row.state)  \(row.messages) message(s)  key \(row.eventKey)  accounts \(accounts)  "
                        + "written \(DurationText.format(.seconds(row.ageSeconds))) ago, set aside \(DurationText.format(.seconds(row.quarantinedSecondsAgo))) ago")
                    print("  \(row.reason)")
                }
                let malformed = rows.filter { $0.state == "malformed" }.count
                print("\(malformed) unreadable, \(rows.count - malformed) waiting: fix one (`tm queues outbox show ID`), then `tm queues outbox replay ID [--batch-file FILE]`, or `tm queues outbox drop ID`")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a quarantined row's stored text (its batch lines, or its jsonb payload), to fix it.")
        @Argument(help: "The row's id.") var id: Int64

        func run() async throws {
            try await QueuesOutbox.withDatabase { db in print(try TradeEventOutbox.quarantinedText(db, id: id)) }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a fixed quarantined row back in the outbox (it is relayed once), and release the rows waiting behind it.")
        @Argument(help: "The row's id.") var id: Int64
        @Option(help: ArgumentHelp("The row's fixed batch text (`<event_key>\\t<payload>` lines), replacing the stored one.", valueName: "file"))
        var batchFile: String?

        func run() async throws {
            try await QueuesOutbox.withDatabase { db in
                let release = try TradeEventOutbox.replay(db, id: id, batch: try batchFile.map(Self.batchText))
                print("row \(id) is back in the outbox with \(release.messages) message(s); \(release.released) waiting row(s) released; the relay sends them on its next pass")
            }
        }

        /// The file's text; a file that cannot be read is refused naming the option (nothing changed).
        static func batchText(_ path: String) throws -> String {
            do {
                // A file's closing newline is not an empty last message.
                var text = try String(contentsOfFile: path, encoding: .utf8)
                while text.hasSuffix("\n") { text.removeLast() }
                return text
            } catch {
                throw OrderCommandError("batch-file", "\(path) cannot be read as UTF-8 text (\((error as NSError).localizedDescription))")
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a quarantined row without sending it (counted in trade_event_outbox_drops), and release the rows waiting behind it.")
        @Argument(help: "The row's id.") var id: Int64

        func run() async throws {
            try await QueuesOutbox.withDatabase { db in
                let release = try TradeEventOutbox.drop(db, id: id)
                let uncounted = release.messages - release.counted
                print("row \(id) dropped: \(release.messages) message(s), \(release.counted) counted per account in trade_event_outbox_drops"
                    + (uncounted > 0 ? " (\(uncounted) name no readable account)" : "") + "; \(release.released) waiting row(s) released")
            }
        }
    }
}
