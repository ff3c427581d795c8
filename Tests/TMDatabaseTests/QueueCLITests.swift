import Foundation
import Testing
import TestSupport
import TMRedis

/// `tm enqueue` and `tm queues` as an operator runs them, on a queue of the test's own.
@Suite(.timeLimit(.minutes(2))) struct QueueCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ arguments: [String], _ scratch: ScratchQueue) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_QUEUES_DIR"] = scratch.directory.path
        return try await runProcess(tm, arguments, environment: environment)
    }

    struct Enqueued: Decodable {
        var id: String
        var shard: Int
        var duplicate: Bool
        var delayed: Bool
        var state: String?
    }

    struct Status: Decodable {
        struct Shard: Decodable { var shard: Int; var length: Int; var delayed: Int; var deadLetters: Int; var nextDueInMs: Int64? }
        struct Totals: Decodable { var length: Int; var delayed: Int }
        var queue: String
        var shards: [Shard]
        var totals: Totals
    }

    @Test func enqueueWithAKeyTwiceIsNewThenADuplicateOfTheFirst() async throws {
        let scratch = try ScratchQueue(settings: "max_payload_bytes: 1024")
        defer { scratch.cleanUp() }
        let first = try await run(["enqueue", scratch.name, "--json", #"{"order":1}"#, "--key", "order-1", "--output", "json"], scratch)
        #expect(first.status == 0, "\(first.output)")
        let new = try JSONDecoder().decode(Enqueued.self, from: Data(first.output.utf8))
        #expect(!new.duplicate && !new.delayed && !new.id.isEmpty)

        let again = try await run(["enqueue", scratch.name, "--json", #"{"order":1}"#, "--key", "order-1", "--output", "json"], scratch)
        #expect(again.status == 0, "\(again.output)")
        let duplicate = try JSONDecoder().decode(Enqueued.self, from: Data(again.output.utf8))
        #expect(duplicate.duplicate && duplicate.id == new.id && duplicate.shard == new.shard)
        #expect(duplicate.state == "queued")

        // The human form says so too, and still exits 0.
        let text = try await run(["enqueue", scratch.name, "--json", #"{"order":1}"#, "--key", "order-1"], scratch)
        #expect(text.status == 0)
        #expect(text.output.contains("duplicate") && text.output.contains(new.id) && text.output.contains("queued"))

        // A payload from a file is a new message (no key).
        let file = scratch.directory.appendingPathComponent("payload.json")
        try #"{"order":2}"#.write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try await run(["enqueue", scratch.name, "--json", "@" + file.path], scratch)
        #expect(fromFile.status == 0, "\(fromFile.output)")
        #expect(fromFile.output.hasPrefix("enqueued ") && !fromFile.output.contains(new.id))

        let status = try await run(["queues", "--json", "--queue", scratch.name], scratch)
        #expect(status.status == 0, "\(status.output)")
        let queues = try JSONDecoder().decode([Status].self, from: Data(status.output.utf8))
        #expect(queues.map(\.queue) == [scratch.name])
        #expect(queues.first?.totals.length == 2)
    }

    @Test func badInputAndUnknownQueuesAreRefusedWithTheReason() async throws {
        let scratch = try ScratchQueue(settings: "max_payload_bytes: 1024")
        defer { scratch.cleanUp() }
        let badJSON = try await run(["enqueue", scratch.name, "--json", #"{"order": 1"#], scratch)
        #expect(badJSON.status == 1)
        #expect(badJSON.output.contains("not valid JSON"), "\(badJSON.output)")

        // Strict RFC 8259: a trailing comma is refused, naming where.
        let trailingComma = try await run(["enqueue", scratch.name, "--json", #"{"a":[1,2,]}"#], scratch)
        #expect(trailingComma.status == 1)
        #expect(trailingComma.output.contains("not valid JSON: unexpected character at byte 10"), "\(trailingComma.output)")

        let tooLarge = try await run(["enqueue", scratch.name, "--json", "\"" + String(repeating: "x", count: 2000) + "\""], scratch)
        #expect(tooLarge.status == 1)
        #expect(tooLarge.output.contains("over the queue's limit of 1024 bytes"), "\(tooLarge.output)")

        let unknown = try await run(["enqueue", "no-such-queue", "--json", "{}"], scratch)
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("unknown queue 'no-such-queue'"), "\(unknown.output)")
        #expect(unknown.output.contains(scratch.name), "the known queues are listed: \(unknown.output)")

        let unknownFilter = try await run(["queues", "--queue", "no-such-queue"], scratch)
        #expect(unknownFilter.status == 1)
        #expect(unknownFilter.output.contains("unknown queue"))

        // Nothing was written by any refusal.
        let status = try await run(["queues", "--json"], scratch)
        let queues = try JSONDecoder().decode([Status].self, from: Data(status.output.utf8))
        #expect(queues.first?.totals.length == 0 && queues.first?.totals.delayed == 0)
    }

    @Test func aDelayedEnqueueShowsUpAsDelayed() async throws {
        let scratch = try ScratchQueue(shards: 2, settings: "max_payload_bytes: 1024")
        defer { scratch.cleanUp() }
        let enqueued = try await run(["enqueue", scratch.name, "--json", #"{"later":true}"#, "--delay", "30s", "--shard-key", "acct-1", "--output", "json"], scratch)
        #expect(enqueued.status == 0, "\(enqueued.output)")
        let result = try JSONDecoder().decode(Enqueued.self, from: Data(enqueued.output.utf8))
        #expect(result.delayed && !result.duplicate)

        let status = try await run(["queues", "--json", "--queue", scratch.name], scratch)
        #expect(status.status == 0, "\(status.output)")
        let queue = try #require(try JSONDecoder().decode([Status].self, from: Data(status.output.utf8)).first)
        #expect(queue.shards.map(\.shard) == [0, 1])
        #expect(queue.totals.delayed == 1 && queue.totals.length == 0)
        let shard = try #require(queue.shards.first { $0.shard == result.shard })
        #expect(shard.delayed == 1)
        let due = try #require(shard.nextDueInMs)
        #expect(due > 0 && due <= 30_000)

        // The table has a row per shard and a total row for a sharded queue.
        let table = try await run(["queues", "--queue", scratch.name], scratch)
        #expect(table.status == 0)
        let rows = table.output.split(separator: "\n").filter { $0.hasPrefix(scratch.name) }
        #expect(rows.count == 3, "\(table.output)")
        #expect(rows.last?.contains("total") == true)

        let badDelay = try await run(["enqueue", scratch.name, "--json", "{}", "--delay", "30"], scratch)
        #expect(badDelay.status != 0)
        #expect(badDelay.output.contains("not a duration"), "\(badDelay.output)")
    }

    /// A queue whose messages nobody reads is flagged in the table and in the JSON.
    @Test func aBacklogNobodyReadsIsFlagged() async throws {
        let scratch = try ScratchQueue()
        defer { scratch.cleanUp() }
        let empty = try await run(["queues", "--queue", scratch.name], scratch)
        #expect(empty.status == 0 && !empty.output.contains("!"), "\(empty.output)")
        #expect(try await run(["enqueue", scratch.name, "--json", "{}"], scratch).status == 0)
        let table = try await run(["queues", "--queue", scratch.name], scratch)
        #expect(table.status == 0)
        #expect(table.output.contains("! \(scratch.name) no-consumer: 1 message(s) waiting"), "\(table.output)")
        #expect(table.output.contains("1 queue(s) need attention"), "\(table.output)")
        struct Flagged: Decodable { struct Alert: Decodable { var kind: String }; var alerts: [Alert] }
        let json = try await run(["queues", "--json", "--queue", scratch.name], scratch)
        #expect(try JSONDecoder().decode([Flagged].self, from: Data(json.output.utf8)).first?.alerts.map(\.kind) == ["no-consumer"])
    }
}
