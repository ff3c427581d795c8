import Foundation
import Testing
import TestSupport
import TMCore
import TMDatabase
import TMPostgres
import TMQueue
import TMRedis

/// `tm dlq` as an operator runs it: real Redis, a migrated Postgres of its own, a queue of its own.
@Suite(.timeLimit(.minutes(2))) struct DeadLetterCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ arguments: [String], _ environment: [String: String]) async throws -> (status: Int32, output: String) {
        var merged = ProcessInfo.processInfo.environment
        merged["TM_ENV_FILE"] = "/nonexistent"
        for (key, value) in environment { merged[key] = value }
        return try await runProcess(tm, arguments, environment: merged)
    }

    /// Dead-letters `messages` through a real consumer whose handler rejects each with its `fail` text.
    func deadLetter(_ manifest: QueueManifest, redis: RedisClient, _ messages: [(json: String, key: String)]) async throws {
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog([manifest]))
        for message in messages {
            try await producer.enqueue(manifest.name, OutgoingMessage(payload: Array(message.json.utf8), key: message.key))
        }
        try await consume(manifest, redis: redis, until: \.deadLettered, reaches: messages.count) { delivery in
            let object = try JSONSerialization.jsonObject(with: Data(delivery.payload)) as? [String: Any]
            throw MessageRejected(object?["fail"] as? String ?? "rejected")
        }
    }

    /// Runs a real consumer until one of its counters reaches `count` (bounded in time).
    func consume(
        _ manifest: QueueManifest, redis: RedisClient, until counter: KeyPath<QueueConsumer.Counters, Int> & Sendable, reaches count: Int,
        _ handler: @escaping QueueHandler
    ) async throws {
        var options = QueueConsumer.Options()
        options.blockTimeout = .milliseconds(200)
        let consumer = QueueConsumer(manifest: manifest, redis: redis.configuration, options: options, handler: handler)
        let task = Task { try await consumer.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while consumer.counters[keyPath: counter] < count {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
        consumer.stop()
        try await task.value
    }

    struct Listed: Decodable {
        var id: String
        var message_id: String
        var key: String?
        var attempts: Int
        var error: String
    }

    @Test func listReplayAndPurgeAreRecordedAndGuarded() async throws {
        let database = try TestDatabase(migrated: true)
        let scratch = try ScratchQueue(settings: "visibility_timeout: 5s")
        defer { scratch.cleanUp() }
        let (name, directory, manifest) = (scratch.name, scratch.directory, try scratch.manifest())
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let keys = QueueKeys(queue: name, shard: 0)
        try await deadLetter(manifest, redis: redis, [
            (#"{"order":1,"fail":"broker timeout"}"#, "cli-1"),
            (#"{"order":2,"fail":"price: outside the band"}"#, "cli-2"),
        ])
        let environment = [
            "TM_REDIS_URL": try TestServers.redisURL, "TM_DATABASE_URL": database.url,
            "TM_QUEUES_DIR": directory.path, "USER": "night-operator",
        ]
        func listed() async throws -> [Listed] {
            let result = try await run(["dlq", "list", name, "--json"], environment)
            #expect(result.status == 0, "\(result.output)")
            return try JSONDecoder().decode([Listed].self, from: Data(result.output.utf8))
        }
        func records() throws -> [DeadLetterLog.Entry] {
            let db = try database.connect()
            defer { db.close() }
            return try DeadLetterLog.recent(db, queue: name)
        }
        func streamLength() async throws -> Int64 { try await redis.send("XLEN", keys.stream).int ?? -1 }

        // list: JSON and the table.
        let letters = try await listed()
        #expect(letters.count == 2)
        let timeout = try #require(letters.first { $0.key == "cli-1" })
        let price = try #require(letters.first { $0.key == "cli-2" })
        #expect(timeout.attempts == 1 && timeout.error == "broker timeout")
        let table = try await run(["dlq", "list", name, "--error-contains", "price"], environment)
        #expect(table.status == 0)
        #expect(table.output.contains("LAST ERROR") && table.output.contains(price.id) && !table.output.contains(timeout.id))

        // show: the payload and the history.
        let shown = try await run(["dlq", "show", timeout.id], environment)
        #expect(shown.status == 0, "\(shown.output)")
        #expect(shown.output.contains("\"order\": 1") && shown.output.contains("history (1 failed attempt") && shown.output.contains("broker timeout"))

        // A dry run changes nothing in the queue and is recorded as one.
        let dry = try await run(["dlq", "replay", name, "--all", "--dry-run"], environment)
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.output.contains("dry run, nothing changed: 2 would replay"))
        await #expect(try listed().count == 2)
        #expect(try await streamLength() == 0)
        #expect(try records().first?.dryRun == true)

        // Refused: no selection, a patch that is not an object, a purge without --yes.
        let unselected = try await run(["dlq", "replay", name], environment)
        #expect(unselected.status != 0)
        #expect(unselected.output.contains("add --id ID (repeatable), --all, or --error-contains TEXT"))
        let badPatch = try await run(["dlq", "replay", name, "--all", "--patch", "[1]"], environment)
        #expect(badPatch.status != 0)
        #expect(badPatch.output.contains("--patch: not a JSON object"))
        let unconfirmed = try await run(["dlq", "purge", name, "--id", price.id], environment)
        #expect(unconfirmed.status != 0)
        #expect(unconfirmed.output.contains("add --yes"))
        await #expect(try listed().count == 2)
        #expect(try records().count == 1)

        // A real replay: re-enqueued and recorded with the operator and the ids.
        let replay = try await run(["dlq", "replay", name, "--id", timeout.id, "--rate", "50/s", "--reason", "INC-42"], environment)
        #expect(replay.status == 0, "\(replay.output)")
        #expect(try await streamLength() == 1)
        await #expect(try listed().map(\.id) == [price.id])
        let replayed = try #require(try records().first)
        #expect(replayed.action == "replay" && !replayed.dryRun)
        #expect(replayed.operatorName == "night-operator")
        #expect(replayed.messageIDs == [timeout.message_id])
        #expect(replayed.reason == "INC-42")
        #expect(replayed.result?.contains(#""replayed": 1"#) == true)
        // Again while the key lives: nothing new.
        let again = try await run(["dlq", "replay", name, "--id", timeout.message_id], environment)
        #expect(again.status == 0, "\(again.output)")
        #expect(try await streamLength() == 1)

        // A patched replay keeps the original payload in the record.
        let patched = try await run(["dlq", "replay", name, "--id", price.id, "--patch", #"{"price":"101.5","fail":null}"#], environment)
        #expect(patched.status == 0, "\(patched.output)")
        let patchRecord = try #require(try records().first)
        #expect(patchRecord.action == "patch-replay")
        #expect(patchRecord.patch?.contains("101.5") == true)
        #expect(patchRecord.originalPayloads.contains("outside the band"))
        #expect(try await streamLength() == 2)

        // Both replays are handled; the patched one arrives corrected.
        let payloads = Locked<[String]>([])
        try await consume(manifest, redis: redis, until: \.handled, reaches: 2) { delivery in
            payloads.withLock { $0.append(String(decoding: delivery.payload, as: UTF8.self)) }
            return nil
        }
        #expect(Set(payloads.current) == [#"{"order":1,"fail":"broker timeout"}"#, #"{"order":2,"price":"101.5"}"#])
        #expect(try await streamLength() == 0)

        // Purge with --yes: gone, and recorded with its payload.
        try await deadLetter(manifest, redis: redis, [(#"{"order":3,"fail":"unknown account"}"#, "cli-3")])
        let third = try await #require(try listed().first)
        let purge = try await run(["dlq", "purge", name, "--id", third.id, "--yes"], environment)
        #expect(purge.status == 0, "\(purge.output)")
        await #expect(try listed().isEmpty)
        let purgeRecord = try #require(try records().first)
        #expect(purgeRecord.action == "purge" && purgeRecord.messageIDs == [third.message_id])
        #expect(purgeRecord.originalPayloads.contains("unknown account"))
        #expect(purgeRecord.operatorName == "night-operator")
    }

    @Test func exportPrintsJSONLines() async throws {
        let scratch = try ScratchQueue(settings: "")
        defer { scratch.cleanUp() }
        let (name, directory, manifest) = (scratch.name, scratch.directory, try scratch.manifest())
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        try await deadLetter(manifest, redis: redis, [(#"{"n":1,"fail":"a"}"#, "x-1"), (#"{"n":2,"fail":"b"}"#, "x-2")])
        let result = try await run(["dlq", "export", name], ["TM_REDIS_URL": try TestServers.redisURL, "TM_QUEUES_DIR": directory.path])
        #expect(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect((object?["payload"] as? [String: Any])?["n"] != nil)
        }
    }
}
