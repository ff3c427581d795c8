import ArgumentParser
import Foundation
import TMCore
import TMQueue
import TMRedis

/// `tm queues`: what every queue holds right now, per shard, and who is consuming it.
struct Queues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each queue's length, pending work, delayed and dead messages, and consumers.",
        discussion: """
            LENGTH is ready + in-flight (acked entries are deleted); PENDING is delivered, not yet acked;
            OLDEST is how long the oldest pending entry has gone without an ack or heartbeat (past the
            queue's visibility timeout it is reclaimed); READY is not yet delivered; DELAYED waits for a
            retry or a delayed start; DLQ waits for `tm dlq`. Idle times are by the Redis server's clock.
            A line starting `!` flags a queue that fills with nobody draining it: messages wait and no
            consumer was seen lately (no-consumer), ready messages wait behind an old one (not-draining),
            the backlog nears max_length (nearly-full), or trade events wait in the sync's outbox longer
            than 15 minutes, were dropped from it, or were set aside as unreadable (outbox-waiting;
            `tm queues outbox` lists, replays or drops those).
            """,
        subcommands: [QueuesOutbox.self])

    @Flag(help: "Print the status as JSON.")
    var json = false

    @Option(name: .customLong("queue"), help: "Only this queue (repeatable).")
    var queues: [String] = []

    @Option(help: ArgumentHelp("Refresh every N seconds until interrupted (Ctrl-C).", valueName: "seconds"))
    var watch: Double?

    func validate() throws {
        if let watch, !(watch > 0) { throw ValidationError("--watch must be a positive number of seconds") }
    }

    func run() async throws {
        do {
            let system = try await QueueSystem.open(checking: queues, clientName: "tm-queues")
            defer { system.close() }
            let inspector = QueueInspector(redis: system.redis, catalog: system.catalog)
            let names = queues.isEmpty ? nil : queues
            // The trade-events outbox is in Postgres: read it when trade-events is listed.
            let readsOutbox = (names ?? system.catalog.names).contains("trade-events")
            func statuses() async throws -> [QueueStatus] {
                let statuses = try await inspector.status(queues: names)
                return readsOutbox ? QueueHealth.withOutbox(statuses, QueueHealth.outbox(system.environment)) : statuses
            }
            guard let watch else {
                print(try render(try await statuses()))
                return
            }
            let clearScreen = isatty(STDOUT_FILENO) == 1 && !json
            while !Task.isCancelled {
                let text = try render(try await statuses())
                if clearScreen { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(text)
                if !clearScreen && !json { print("") }
                fflush(nil)  // all streams: `stdout` itself is not concurrency-safe to name
                try await Task.sleep(for: .milliseconds(Int64(watch * 1000)))
            }
        } catch let error as ExitCode {
            throw error
        } catch is CancellationError {
            return
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func render(_ statuses: [QueueStatus]) throws -> String {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try encoder.encode(statuses), as: UTF8.self)
        }
        return Self.table(statuses)
    }

    static func age(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        return DurationText.format(.milliseconds(ms))
    }

    static func due(_ ms: Int64?) -> String {
        guard let ms else { return "-" }
        return ms <= 0 ? "now" : DurationText.format(.milliseconds(ms))
    }

    /// The human table: one row per shard, a total row for sharded queues, consumers listed below.
    static func table(_ statuses: [QueueStatus]) -> String {
        let header = ["QUEUE", "SHARD", "LENGTH", "PENDING", "OLDEST", "READY", "DELAYED", "NEXT DUE", "DLQ", "CONSUMERS"]
        var rows: [[String]] = []
        var notes: [Int: [String]] = [:]  // lines printed after row index
        for status in statuses {
            for shard in status.shards {
                rows.append([
                    status.queue, String(shard.shard), String(shard.length), String(shard.pending),
                    age(shard.oldestPending?.idleMs), shard.undelivered.map(String.init) ?? "?",
                    String(shard.delayed), due(shard.nextDueInMs), String(shard.deadLetters),
                    String(Set(shard.consumers.map(\.consumer.name)).count),
                ])
                for error in shard.errors { notes[rows.count - 1, default: []].append("  ! shard \(shard.shard): \(error)") }
            }
            if status.shards.count > 1 {
                let t = status.totals
                let nextDue = status.shards.compactMap(\.nextDueInMs).min()
                rows.append([
                    status.queue, "total", String(t.length), String(t.pending), age(t.oldestPendingIdleMs),
                    t.undelivered.map(String.init) ?? "?", String(t.delayed), due(nextDue), String(t.deadLetters),
                    String(t.consumers),
                ])
            }
            var lines: [String] = status.alerts.map { "  ! \(status.queue) \($0)" }
            for shard in status.shards {
                let multipleGroups = shard.groups.count > 1
                for (group, consumer) in shard.consumers {
                    let name = multipleGroups ? "\(group)/\(consumer.name)" : consumer.name
                    lines.append("  consumer \(name)  shard \(shard.shard)  \(consumer.pending) pending  idle \(age(consumer.idleMs))")
                }
            }
            if !lines.isEmpty { notes[rows.count - 1, default: []].append(contentsOf: lines) }
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                // Text left, numbers right: columns of figures line up by their last digit.
                i < 2 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                      : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }
        var out = [line(header)]
        for (index, row) in rows.enumerated() {
            out.append(line(row))
            out.append(contentsOf: notes[index] ?? [])
        }
        if statuses.isEmpty { out.append("(no queues)") }
        let flagged = statuses.filter { !$0.alerts.isEmpty }.map(\.queue)
        if !flagged.isEmpty { out.append("\(flagged.count) queue(s) need attention (! lines): \(flagged.joined(separator: ", "))") }
        return out.joined(separator: "\n")
    }
}
