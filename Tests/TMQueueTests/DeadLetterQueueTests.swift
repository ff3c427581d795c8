import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue
import TMRedis

/// Dead letters as operators handle them, against the harness's real Redis.
@Suite(.timeLimit(.minutes(2))) struct DeadLetterQueueTests {
    /// Enqueues `messages` and lets a consumer reject each one (non-retryable, so straight to the DLQ)
    /// with the error the payload asks for; returns once all are dead.
    func deadLetter(_ queue: TestQueue, _ messages: [(json: String, key: String?)]) async throws {
        // One at a time, so the dead letters are in the order the messages were sent.
        var options = QueueConsumer.Options()
        options.concurrency = 1
        let (consumer, task) = queue.consume(options: options) { delivery in
            let object = try JSONSerialization.jsonObject(with: Data(delivery.payload)) as? [String: Any]
            throw MessageRejected(object?["fail"] as? String ?? "rejected")
        }
        for message in messages { try await queue.enqueue(message.json, key: message.key) }
        try await eventually("\(messages.count) dead-lettered") { consumer.counters.deadLettered == messages.count }
        consumer.stop()
        try await task.value
    }

    func dlq(_ queue: TestQueue) -> DeadLetterQueue { DeadLetterQueue(redis: queue.redis, manifest: queue.manifest) }

    func backlog(_ queue: TestQueue) async throws -> Int {
        var total = 0
        for shard in 0..<queue.manifest.shards { total += try await queue.streamLength(shard) }
        return total
    }

    @Test func listFiltersAndShowFindsTheHistory() async throws {
        let queue = try await TestQueue { $0.shards = 2 }
        defer { Task { await queue.cleanUp() } }
        try await deadLetter(queue, [
            (#"{"n":1,"fail":"broker timeout"}"#, "k-1"),
            (#"{"n":2,"fail":"quantity: must be positive, got -5"}"#, "k-2"),
            (#"{"n":3,"fail":"broker timeout again"}"#, nil),
        ])
        let dlq = dlq(queue)
        let all = try await dlq.list()
        #expect(all.count == 3)
        // Oldest first in the order they were written (`DeadLetterQueue.precedes`), not by `deadAt`:
        // two settles in flight can write theirs in the other order (the flake session 30 fixed in the list).
        #expect(all.map(\.id) == all.sorted(by: DeadLetterQueue.precedes).map(\.id))
        #expect(Set(all.map(\.shard)).isSubset(of: [0, 1]))

        let quantity = try await dlq.list(errorContains: "QUANTITY")
        #expect(quantity.count == 1)
        #expect(quantity.first?.key == "k-2")
        #expect(try await dlq.list(errorContains: "timeout").count == 2)
        #expect(try await dlq.list(since: Date().addingTimeInterval(60)).isEmpty)
        #expect(try await dlq.list(since: Date().addingTimeInterval(-60)).count == 3)
        #expect(try await dlq.list(limit: 2).map(\.id) == all.suffix(2).map(\.id))

        let letter = try #require(quantity.first)
        #expect(DeadLetterID.parse(letter.id) == DeadLetterID(queue: queue.name, shard: letter.shard, streamID: letter.streamID))
        let shown = try #require(try await dlq.find(letter.id))
        #expect(shown == letter)
        #expect(shown.payloadText == #"{"n":2,"fail":"quantity: must be positive, got -5"}"#)
        // MessageRejected: the message itself is wrong (reason "invalid", kind malformed).
        #expect(shown.reason == "invalid")
        #expect(shown.attempts == 1)
        #expect(shown.history.count == 1)
        #expect(shown.history.first?.kind == .malformed)
        #expect(shown.history.first?.error == "quantity: must be positive, got -5")
        // A message id finds it too; an unknown selector finds nothing.
        #expect(try await dlq.find(letter.messageID) == letter)
        #expect(try await dlq.find("\(queue.name).0/1-0") == nil)
        #expect(try await dlq.find("no-such-message") == nil)
    }

    @Test func aReplayIsHandledOnceAndReplayingAgainWhileTheKeyLivesEnqueuesNothing() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await deadLetter(queue, [(#"{"order":42,"fail":"broker down"}"#, "order-42")])
        let dlq = dlq(queue)
        let letter = try #require(try await dlq.list().first)
        // A second copy of the same dead letter (as if restored from an export): the key is the same.
        let copy = try await queue.redis.send(
            "XADD", queue.keys().deadLetters, "*", "id", letter.messageID, "key", "order-42", "payload", letter.payloadText,
            "attempt", "1", "enqueued_at", "0", "history", "[]", "reason", "non_retryable", "error", "broker down",
            "dead_at", "\(Int64(Date().timeIntervalSince1970 * 1000))", "queue", queue.name, "stream_id", "0-1"
        ).string
        let copyID = "\(queue.name).0/\(try #require(copy))"

        let handled = Locked<[Delivery]>([])
        let (consumer, task) = queue.consume { delivery in
            handled.withLock { $0.append(delivery) }
            return #"{"placed":true}"#
        }
        let report = try await dlq.replay(ids: [letter.id])
        #expect(report.counts == ["replayed": 1])
        try await eventually("the replayed message handled") { consumer.counters.handled == 1 }
        let delivery = try #require(handled.current.first)
        #expect(delivery.id == letter.messageID)
        #expect(delivery.key == "order-42")
        #expect(delivery.attempt == 1)
        #expect(delivery.history.isEmpty)
        #expect(delivery.payload == letter.payload)

        // Again, the same dead letter: it is gone. The copy: skipped, because the key's record says done.
        let again = try await dlq.replay(ids: [letter.id, copyID])
        #expect(again.items.map(\.outcome) == [.missing, .skipped])
        #expect(again.items.last?.skippedBecause == "done")
        // A duplicate enqueue with the key is answered from the record, too.
        let duplicate = try await queue.enqueue(#"{"order":42}"#, key: "order-42")
        #expect(duplicate.duplicate && duplicate.state == "done")
        try await Task.sleep(for: .milliseconds(300))
        consumer.stop()
        try await task.value
        #expect(handled.current.count == 1)
        #expect(try await queue.streamLength() == 0)
        // The skipped copy stays for the operator to purge; nothing was silently dropped.
        #expect(try await dlq.list().map(\.id) == [copyID])
    }

    @Test func aPatchedReplayFixesTheFieldAndKeepsTheOriginal() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let original = #"{"order":{"qty":-5,"price":101.35000000000000000001},"account":"a1","note":"x","fail":"qty: must be positive"}"#
        try await deadLetter(queue, [(original, "order-7"), ("[1,2]", "list-1")])
        let dlq = dlq(queue)
        let letters = try await dlq.list()
        let order = try #require(letters.first { $0.key == "order-7" })
        let list = try #require(letters.first { $0.key == "list-1" })

        // Refused before anything is replayed: a patch that is not an object, a payload that is not one.
        await #expect(throws: DeadLetterError.invalidPatch("not a JSON object (it is an array); write e.g. '{\"quantity\": 10}'")) {
            try await dlq.replay(ids: [order.id], patch: "[1]")
        }
        do {
            _ = try await dlq.replay(ids: [order.id, list.id], patch: #"{"qty":1}"#)
            Issue.record("an array payload cannot take a merge patch")
        } catch let error as DeadLetterError {
            #expect("\(error)".contains("\(list.id): payload: not a JSON object (it is an array)"))
        }
        #expect(try await dlq.list().count == 2)
        #expect(try await queue.streamLength() == 0)

        let report = try await dlq.replay(ids: [order.id], patch: #"{"order":{"qty":5},"note":null,"fail":null}"#)
        let item = try #require(report.items.first)
        #expect(item.outcome == .replayed)
        #expect(item.deadLetter?.payloadText == original)
        let sent = String(decoding: try #require(item.sentPayload), as: UTF8.self)
        // Untouched members keep their exact text (no Double round trip) and their order.
        #expect(sent == #"{"order":{"qty":5,"price":101.35000000000000000001},"account":"a1"}"#)

        let handled = Locked<[String]>([])
        let (consumer, task) = queue.consume { delivery in
            handled.withLock { $0.append(String(decoding: delivery.payload, as: UTF8.self)) }
            return nil
        }
        try await eventually("the patched message handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        #expect(handled.current == [sent])
    }

    @Test func purgeByIDAndByAge() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await deadLetter(queue, [(#"{"n":1}"#, nil), (#"{"n":2}"#, nil), (#"{"n":3}"#, nil)])
        let dlq = dlq(queue)
        let letters = try await dlq.list()

        let dry = try await dlq.purge(ids: [letters[0].id], dryRun: true)
        #expect(dry.purged.map(\.id) == [letters[0].id])
        #expect(try await dlq.list().count == 3)

        let byID = try await dlq.purge(ids: [letters[0].messageID, "\(queue.name).0/1-0"])
        #expect(byID.purged.map(\.id) == [letters[0].id])
        #expect(byID.purged.first?.payloadText == letters[0].payloadText, "the one named, whichever died first")
        #expect(byID.missing == ["\(queue.name).0/1-0"])

        #expect(try await dlq.purge(olderThan: .seconds(3600)).purged.isEmpty)
        try await Task.sleep(for: .milliseconds(20))
        let old = try await dlq.purge(olderThan: .milliseconds(10))
        #expect(Set(old.purged.map(\.id)) == Set(letters[1...].map(\.id)))
        #expect(old.counts == ["purged": 2])
        #expect(try await dlq.list().isEmpty)
    }

    @Test func replaysArePacedAndADryRunChangesNothing() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await deadLetter(queue, (1...5).map { (#"{"n":\#($0)}"#, "paced-\($0)") })
        let dlq = dlq(queue)
        let ids = try await dlq.list().map(\.id)

        let dry = try await dlq.replay(ids: ids, rate: 1, dryRun: true)
        #expect(dry.counts == ["would_replay": 5])
        #expect(try await dlq.list().count == 5)
        #expect(try await queue.streamLength() == 0)

        let started = ContinuousClock.now
        let report = try await dlq.replay(ids: ids, rate: 10)
        let elapsed = ContinuousClock.now - started
        #expect(report.replayed == 5)
        // Five starts at 10/s are at 0, 100, ..., 400 ms: never faster.
        #expect(elapsed >= .milliseconds(390), "5 replays at 10/s took \(elapsed)")
        #expect(try await queue.streamLength() == 5)
        #expect(try await dlq.list().isEmpty)
        await #expect(throws: DeadLetterError.self) { try await dlq.replay(ids: ids, rate: 0) }
    }

    @Test func exportLinesParse() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        try await deadLetter(queue, [(#"{"n":1,"fail":"first\nline two"}"#, "e-1"), (#"{"n":2}"#, nil)])
        let lines = try await dlq(queue).export()
        #expect(lines.count == 2)
        for line in lines {
            #expect(!line.contains("\n"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["queue"] as? String == queue.name)
            #expect((object["payload"] as? [String: Any])?["n"] != nil)
            #expect((object["history"] as? [Any])?.count == 1)
            #expect(object["message_id"] is String)
        }
        // The two were handled concurrently, so they died in either order.
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let first = try #require(objects.first { $0["key"] as? String == "e-1" })
        #expect(first["error"] as? String == "first\nline two")
        let second = try #require(objects.first { ($0["payload"] as? [String: Any])?["n"] as? Int == 2 })
        #expect(second["key"] is NSNull)
    }

    /// The examples of RFC 7396, appendix A.
    @Test(arguments: [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, "null", "null"),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ])
    func mergePatchFollowsRFC7396(target: String, patch: String, expected: String) throws {
        #expect(try JSONValue.parse(target).merging(patch: JSONValue.parse(patch)).text == expected)
    }

    @Test func jsonKeepsNumbersAndEscapesExactly() throws {
        let text = #"{"p":-0.000000000000000000000001,"q":1E+400,"s":"tab\t\"q\" \u00e9 \ud83d\ude00 \u0001","a":[true,false,null,{}]}"#
        let value = try JSONValue.parse(text)
        #expect(value["p"] == .number("-0.000000000000000000000001"))
        #expect(value["q"] == .number("1E+400"))
        #expect(value["s"] == .string("tab\t\"q\" é 😀 \u{01}"))
        #expect(try JSONValue.parse(value.text) == value)
        #expect(try JSONValue.parse(value.prettyText) == value)
        for bad in ["{", #"{"a":}"#, "[1,]", "01", #""\x""#, "{} x", "-"] {
            #expect(throws: JSONValue.ParseError.self, "\(bad)") { try JSONValue.parse(bad) }
        }
    }
}
