import ArgumentParser
import Foundation
import TMCore
import TMDatabase
import TMPostgres
import TMQueue
import TMRedis

/// `tm dlq`: dead letters for operators — look, fix, replay, purge, export.
///
/// Guarantees: `list`, `show` and `export` only read; `replay` and `purge` act only on an explicit
/// selection, `purge` only with `--yes`, and both record who did what in `dlq_replays` (a dry run
/// too, marked as one). Postgres is checked before anything changes, so an action that could not
/// be recorded is not taken.
struct DeadLetterCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, replay, purge and export dead-lettered messages.",
        discussion: """
            A dead letter's id is <queue>.<shard>/<stream id>, e.g. orders.3/1714000000000-0, as `tm dlq list` shows it;
            commands that take --id also accept a message id.
            """,
        subcommands: [List.self, Show.self, Replay.self, Purge.self, Export.self])

    // MARK: - list

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A table of a queue's dead letters: id, age, attempts, last error.")

        @Argument(help: "The queue, as named in Queues/<name>.yaml.")
        var queue: String

        @Option(help: ArgumentHelp("Only dead letters that died within this long, e.g. 30m, 2h, 7d.", valueName: "duration"))
        var since: String?

        @Option(help: ArgumentHelp("Only those whose error or reason contains this text (case-insensitive).", valueName: "text"))
        var errorContains: String?

        @Option(help: "Show at most this many (the most recent).")
        var limit: Int?

        @Flag(help: "Print a JSON array instead of the table.")
        var json = false

        func validate() throws {
            _ = try parseSince(since)
            if let limit, limit < 1 { throw ValidationError("--limit: must be at least 1") }
        }

        func run() async throws {
            try await reportingErrors {
                let context = try await Context.open(queue)
                defer { context.close() }
                let letters = try await context.dlq.list(since: try parseSince(since), errorContains: errorContains, limit: limit)
                if json {
                    print(JSONValue.array(letters.map(\.json)).prettyText)
                    return
                }
                if letters.isEmpty {
                    print("no dead letters in \(queue)\(filterText(since: since, errorContains: errorContains))")
                    return
                }
                let now = Date()
                print(table(
                    header: ["ID", "AGE", "ATTEMPTS", "REASON", "LAST ERROR"],
                    rows: letters.map { [$0.id, age($0.deadAt, now: now), "\($0.attempts)", $0.reason, oneLine($0.error, max: 90)] }))
                let oldest = letters.map(\.deadAt).min() ?? now
                print("\n\(letters.count) dead letter\(letters.count == 1 ? "" : "s") in \(queue)\(filterText(since: since, errorContains: errorContains)); oldest died \(age(oldest, now: now)) ago.")
                print("Details: tm dlq show ID   Replay: tm dlq replay \(queue) --id ID [--dry-run]")
            }
        }
    }

    // MARK: - show

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One dead letter: its payload and its full attempt history.")

        @Argument(help: "A dead-letter id (<queue>.<shard>/<stream id>) or a message id.")
        var id: String

        @Option(help: "The queue to search when ID is a message id (default: every queue).")
        var queue: String?

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            try await reportingErrors {
                let named = DeadLetterID.parse(id).map { [$0.queue] } ?? queue.map { [$0] } ?? []
                let system = try await QueueSystem.open(checking: named, clientName: "tm-dlq")
                defer { system.close() }
                var found: DeadLetter?
                for name in named.isEmpty ? system.catalog.names : named where found == nil {
                    found = try await DeadLetterQueue(redis: system.redis, manifest: try system.catalog.manifest(name)).find(id)
                }
                guard let letter = found else {
                    throw CommandFailure("no dead letter '\(id)'\(queue.map { " in \($0)" } ?? ""): it may have been replayed, purged or trimmed by retention; `tm dlq list QUEUE` shows what is there")
                }
                if json {
                    print(letter.json.prettyText)
                } else {
                    print(describe(letter))
                }
            }
        }

        func describe(_ letter: DeadLetter) -> String {
            let now = Date()
            var lines: [String] = []
            func field(_ name: String, _ value: String) { lines.append(name.padding(toLength: 13, withPad: " ", startingAt: 0) + value) }
            field("dead letter", letter.id)
            field("queue", "\(letter.queue) (shard \(letter.shard))")
            field("message id", letter.messageID)
            field("key", letter.key ?? "(none)")
            field("enqueued", "\(timestamp(letter.enqueuedAt))  (\(age(letter.enqueuedAt, now: now)) ago)")
            field("dead", "\(timestamp(letter.deadAt))  (\(age(letter.deadAt, now: now)) ago)")
            field("reason", letter.reason)
            field("attempts", "\(letter.attempts)")
            field("last error", letter.error)
            lines.append("")
            lines.append("history (\(letter.history.count) failed attempt\(letter.history.count == 1 ? "" : "s"), oldest first)")
            if letter.history.isEmpty {
                lines.append("  (none recorded)")
            } else {
                lines.append(table(
                    header: ["#", "AT", "CONSUMER", "KIND", "ERROR"],
                    rows: letter.history.map { ["\($0.attempt)", timestamp($0.date), $0.consumer, $0.kind.rawValue, oneLine($0.error, max: 200)] },
                    indent: "  "))
            }
            lines.append("")
            lines.append("payload (\(letter.payload.count) bytes)")
            let pretty = (try? JSONValue.parse(letter.payload).prettyText) ?? letter.payloadText
            lines.append(contentsOf: pretty.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 })
            return lines.joined(separator: "\n")
        }
    }

    // MARK: - replay

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-enqueue dead letters with their original id and key and a fresh attempt count.",
            discussion: """
                A message whose idempotency record says its work is queued or done is skipped: a replay never repeats
                finished work. With --patch, the payload (a JSON object) is merged with the patch (RFC 7396: members
                replace, null removes) before it is sent; the original payloads are kept in dlq_replays.
                Every replay, dry runs included, is recorded in dlq_replays with the operator ($USER).
                """)

        @Argument(help: "The queue, as named in Queues/<name>.yaml.")
        var queue: String

        @Option(name: .customLong("id"), help: ArgumentHelp("A dead-letter id or message id to replay (repeatable).", valueName: "id"))
        var ids: [String] = []

        @Flag(help: "Replay every dead letter of the queue (narrow with --since).")
        var all = false

        @Option(help: ArgumentHelp("Replay those whose error or reason contains this text (case-insensitive).", valueName: "text"))
        var errorContains: String?

        @Option(help: ArgumentHelp("With --all or --error-contains: only those that died within this long.", valueName: "duration"))
        var since: String?

        @Option(help: ArgumentHelp("At most this many messages per second, e.g. 10/s or 10.", valueName: "N/s"))
        var rate: String = "10/s"

        @Option(help: ArgumentHelp("A JSON merge patch applied to each payload, e.g. '{\"quantity\": 10}'.", valueName: "json"))
        var patch: String?

        @Flag(help: "Show what would be replayed and change nothing in the queue.")
        var dryRun = false

        @Option(help: "Why, for the record (e.g. a ticket number).")
        var reason: String?

        func validate() throws {
            let chosen = [!ids.isEmpty, all, errorContains != nil].filter { $0 }.count
            if chosen == 0 {
                throw ValidationError("nothing selected: add --id ID (repeatable), --all, or --error-contains TEXT")
            }
            if chosen > 1 { throw ValidationError("choose one of --id, --all and --error-contains") }
            if since != nil && !ids.isEmpty { throw ValidationError("--since: only with --all or --error-contains") }
            if let errorContains, errorContains.isEmpty { throw ValidationError("--error-contains: must not be empty") }
            _ = try parseSince(since)
            _ = try parseRate(rate)
            _ = try parsePatch(patch)
        }

        func run() async throws {
            try await reportingErrors {
                let context = try await Context.open(queue)
                defer { context.close() }
                let selection: [String]
                if !ids.isEmpty {
                    selection = ids
                } else {
                    var ids: [String] = []
                    try await context.dlq.forEach(since: try parseSince(since), errorContains: errorContains) { ids.append($0.id) }
                    selection = ids
                }
                guard !selection.isEmpty else {
                    print("nothing to replay: no dead letters in \(queue)\(filterText(since: since, errorContains: errorContains))")
                    return
                }
                let patchText = try parsePatch(patch)?.text
                // Refuse before acting if the action could not be recorded.
                try await context.checkDatabase()
                let report: ReplayReport
                do {
                    report = try await context.dlq.replay(ids: selection, rate: try parseRate(rate), patch: patchText, dryRun: dryRun)
                } catch let error as DeadLetterError {
                    if case .invalidPatch(let reason) = error { throw CommandFailure("--patch: \(reason)") }
                    throw error
                }
                for item in report.items {
                    let name = item.deadLetter?.id ?? item.selector
                    var line = "\(item.outcome.rawValue.replacingOccurrences(of: "_", with: " ").padding(toLength: 13, withPad: " ", startingAt: 0)) \(name)"
                    if let message = item.deadLetter?.messageID { line += "  message \(message)" }
                    if let state = item.skippedBecause { line += "  (its key's record says \(state): not replayed again)" }
                    if item.outcome == .missing { line += "  (no such dead letter: replayed, purged or trimmed already)" }
                    print(line)
                    // Show what a patch produces before anyone commits to it.
                    if patchText != nil, item.outcome == .wouldReplay || item.outcome == .replayed, let sent = item.sentPayload {
                        print("              sends \(String(decoding: sent, as: UTF8.self))")
                    }
                }
                let recordID = try await context.record(
                    action: patchText == nil ? "replay" : "patch-replay",
                    messageIDs: report.items.map { $0.deadLetter?.messageID ?? $0.selector },
                    patch: patchText, originalPayloads: report.items.compactMap { $0.deadLetter?.payloadText },
                    dryRun: dryRun, result: report.counts, reason: reason)
                let summary = report.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key.replacingOccurrences(of: "_", with: " "))" }
                print("\(dryRun ? "dry run, nothing changed: " : "")\(summary.joined(separator: ", ")); recorded as dlq_replays #\(recordID)")
            }
        }
    }

    // MARK: - purge

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete dead letters for good (recorded in dlq_replays with their payloads).")

        @Argument(help: "The queue, as named in Queues/<name>.yaml.")
        var queue: String

        @Option(name: .customLong("id"), help: ArgumentHelp("A dead-letter id or message id to delete (repeatable).", valueName: "id"))
        var ids: [String] = []

        @Option(help: ArgumentHelp("Delete those that died longer ago than this, e.g. 7d.", valueName: "duration"))
        var olderThan: String?

        @Flag(help: "Confirm: the dead letters are deleted.")
        var yes = false

        @Flag(help: "Show what would be deleted and delete nothing.")
        var dryRun = false

        @Option(help: "Why, for the record (e.g. a ticket number).")
        var reason: String?

        func validate() throws {
            if ids.isEmpty && olderThan == nil {
                throw ValidationError("nothing selected: add --id ID (repeatable) or --older-than DURATION (e.g. 7d)")
            }
            if !ids.isEmpty && olderThan != nil { throw ValidationError("choose one of --id and --older-than") }
            if let olderThan {
                do { _ = try DurationText.parse(olderThan) } catch { throw ValidationError("--older-than: \(error)") }
            }
            if !yes && !dryRun {
                throw ValidationError("purge deletes dead letters for good: add --yes to confirm (or --dry-run to see what would go)")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let context = try await Context.open(queue)
                defer { context.close() }
                try await context.checkDatabase()
                let report: PurgeReport
                if let olderThan {
                    report = try await context.dlq.purge(olderThan: try DurationText.parse(olderThan), dryRun: dryRun)
                } else {
                    report = try await context.dlq.purge(ids: ids, dryRun: dryRun)
                }
                for letter in report.purged {
                    print("\(dryRun ? "would purge" : "purged     ") \(letter.id)  message \(letter.messageID)  \(oneLine(letter.error, max: 60))")
                }
                for selector in report.missing { print("missing     \(selector)  (no such dead letter)") }
                guard !report.purged.isEmpty else {
                    print("nothing to purge in \(queue)")
                    return
                }
                let recordID = try await context.record(
                    action: "purge", messageIDs: report.purged.map(\.messageID), patch: nil,
                    originalPayloads: report.purged.map(\.payloadText), dryRun: dryRun, result: report.counts, reason: reason)
                print("\(dryRun ? "dry run, nothing deleted: \(report.purged.count) would be purged" : "\(report.purged.count) purged"); recorded as dlq_replays #\(recordID) (with the payloads)")
            }
        }
    }

    // MARK: - export

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a queue's dead letters as JSON lines, oldest first.")

        @Argument(help: "The queue, as named in Queues/<name>.yaml.")
        var queue: String

        @Option(help: ArgumentHelp("Only dead letters that died within this long, e.g. 2h.", valueName: "duration"))
        var since: String?

        @Option(help: ArgumentHelp("Only those whose error or reason contains this text.", valueName: "text"))
        var errorContains: String?

        func validate() throws { _ = try parseSince(since) }

        func run() async throws {
            try await reportingErrors {
                let context = try await Context.open(queue)
                defer { context.close() }
                try await context.dlq.export(since: try parseSince(since), errorContains: errorContains) { print($0) }
            }
        }
    }
}

// MARK: - Shared plumbing

/// A failure already phrased for the operator.
private struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The queue, its Redis and (on demand) its Postgres, from the environment.
private struct Context {
    let environment: TMEnvironment
    let redis: RedisClient
    let dlq: DeadLetterQueue

    static func open(_ queue: String) async throws -> Context {
        let system = try await QueueSystem.open(checking: [queue], clientName: "tm-dlq")
        return Context(environment: system.environment, redis: system.redis,
                       dlq: DeadLetterQueue(redis: system.redis, manifest: try system.catalog.manifest(queue)))
    }

    func close() { redis.close() }

    var operatorName: String {
        let user = ProcessInfo.processInfo.environment["USER"]?.trimmingCharacters(in: .whitespaces) ?? ""
        return user.isEmpty ? "unknown" : user
    }

    /// libpq blocks: run it on a thread of its own, not on Swift's cooperative pool.
    private func withDatabase<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let configuration = try PostgresConfiguration.fromEnvironment(environment)
        let thread = BlockingThread(name: "tm-dlq-postgres")
        defer { thread.shutdown() }
        return try await thread.run {
            let db = try PostgresConnection(configuration: configuration)
            defer { db.close() }
            return try body(db)
        }
    }

    /// Fails (naming the cause) when the record could not be written, before anything changes.
    func checkDatabase() async throws {
        do {
            try await withDatabase { db in _ = try db.query("SELECT 1 FROM dlq_replays LIMIT 0") }
        } catch {
            throw CommandFailure("cannot record the action in Postgres, so nothing was done: \(error) (check TM_DATABASE_URL; run `tm migrate`)")
        }
    }

    func record(
        action: String, messageIDs: [String], patch: String?, originalPayloads: [String], dryRun: Bool, result: [String: Int], reason: String?
    ) async throws -> Int64 {
        let queue = dlq.queue
        let operatorName = operatorName
        do {
            return try await withDatabase { db in
                try DeadLetterLog.record(
                    db, queue: queue, action: action, messageIDs: messageIDs, operator: operatorName, patch: patch,
                    originalPayloads: originalPayloads, dryRun: dryRun, result: result, reason: reason)
            }
        } catch {
            throw CommandFailure("the \(action) \(dryRun ? "dry run " : "")above was done but NOT recorded in dlq_replays: \(error)")
        }
    }
}

/// Prints an error the operator can act on and exits 1; argument errors keep ArgumentParser's usage text.
private func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

private func parseSince(_ text: String?) throws -> Date? {
    guard let text else { return nil }
    do {
        return Date().addingTimeInterval(-(try DurationText.parse(text)).seconds)
    } catch {
        throw ValidationError("--since: \(error)")
    }
}

/// `10/s`, `10`, `600/m`: messages per second.
private func parseRate(_ text: String) throws -> Double {
    var number = Substring(text.trimmingCharacters(in: .whitespaces).lowercased())
    var perSeconds = 1.0
    if number.hasSuffix("/s") || number.hasSuffix("/sec") {
        number = number[..<(number.lastIndex(of: "/") ?? number.endIndex)]
    } else if number.hasSuffix("/m") || number.hasSuffix("/min") {
        number = number[..<(number.lastIndex(of: "/") ?? number.endIndex)]
        perSeconds = 60
    }
    guard let value = Double(number), value > 0, value.isFinite else {
        throw ValidationError("--rate: '\(text)' is not a positive rate (use e.g. 10/s, 10 or 600/m)")
    }
    return value / perSeconds
}

private func parsePatch(_ text: String?) throws -> JSONValue? {
    guard let text else { return nil }
    let value: JSONValue
    do { value = try JSONValue.parse(text) } catch { throw ValidationError("--patch: \(error)") }
    guard case .object = value else {
        throw ValidationError("--patch: not a JSON object (it is \(value.kindName)); write e.g. '{\"quantity\": 10}'")
    }
    return value
}

private func filterText(since: String?, errorContains: String?) -> String {
    var parts: [String] = []
    if let since { parts.append("dead within \(since)") }
    if let errorContains { parts.append("error containing '\(errorContains)'") }
    return parts.isEmpty ? "" : " (" + parts.joined(separator: ", ") + ")"
}

/// `42s`, `12m`, `3h12m`, `2d4h`: precise enough to act on, short enough for a column.
private func age(_ date: Date, now: Date) -> String {
    let seconds = max(Int(now.timeIntervalSince(date)), 0)
    switch seconds {
    case ..<60: return "\(seconds)s"
    case ..<3600: return "\(seconds / 60)m"
    case ..<86_400: return "\(seconds / 3600)h\(seconds % 3600 / 60 > 0 ? "\(seconds % 3600 / 60)m" : "")"
    default: return "\(seconds / 86_400)d\(seconds % 86_400 / 3600 > 0 ? "\(seconds % 86_400 / 3600)h" : "")"
    }
}

private func timestamp(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: date)
}

/// Errors can hold newlines and stack-trace-like noise; a table cell must stay on one line.
private func oneLine(_ text: String, max: Int) -> String {
    let flat = text.split(whereSeparator: \.isNewline).joined(separator: " ⏎ ")
    return flat.count > max ? String(flat.prefix(max - 1)) + "…" : flat
}

private func table(header: [String], rows: [[String]], indent: String = "") -> String {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = Swift.max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        let padded = cells.enumerated().map { i, cell in
            i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }
        return indent + padded.joined(separator: "  ")
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}
