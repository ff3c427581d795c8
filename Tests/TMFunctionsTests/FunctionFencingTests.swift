import Foundation
import Testing
import TestSupport
import TMFunctionRuntime
import TMFunctions
import TMQueue

/// The fencing epoch reaches the handler: each record carries the epoch of its delivery, so a
/// function can fence its writes (`pool.transaction(fencedBy: record.fence)`).
@Suite(.serialized, .timeLimit(.minutes(3))) struct FunctionFencingTests {
    let harness = TestFunctionHarness()

    @Test func eachRecordCarriesTheEpochOfItsDelivery() async throws {
        let queue = try await TriggerQueue()
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name) }
        let functions = try FunctionCatalog([fn])
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        // The first delivery fails; the retry is the message's second delivery: epoch 2.
        let sent = try await queue.enqueue(#"{"mode":"epoch","fail_until_attempt":1}"#, key: "fenced-1", functions: functions)
        let keys = QueueKeys(queue: queue.manifest.name, shard: 0)
        try await eventually("the retry succeeded") {
            (try await queue.redis.send("GET", keys.idempotency("fenced-1")).string ?? "").contains("\"done\"")
        }
        await dispatcher.stop()
        let text = try await queue.redis.send("GET", keys.idempotency("fenced-1")).string ?? ""
        let record = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(record?["result"] as? String == "epoch 2 attempt 2 fence message:\(queue.manifest.name)/\(sent.id)", "\(text)")
        #expect(dispatcher.dispatcher.outcomes[fn.name]?[.partial] == 1, "the first delivery failed (epoch 1)")
        await queue.cleanUp()
    }

    @Test func theEpochIsPartOfTheProtocol() throws {
        let record = InvocationRecord(messageID: "m-1", queue: "orders", attempt: 1, epoch: 7, enqueuedAtMillis: 0, body: "{}")
        let json = String(decoding: try InvocationWire.encoder.encode(record), as: UTF8.self)
        #expect(json.contains(#""epoch":7"#))
        #expect(try JSONDecoder().decode(InvocationRecord.self, from: Data(json.utf8)) == record)
        #expect(record.fence.resource == "message:orders/m-1")
        #expect(record.fence.fencingToken == 7)
        // A request without epochs is refused (a function cannot fence without them).
        let old = #"{"message_id":"m-1","queue":"orders","attempt":1,"enqueued_at_ms":0,"body":"{}"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(InvocationRecord.self, from: Data(old.utf8)) }
    }
}
