import Foundation
import Testing
import TestSupport
import TMFunctionRuntime
import TMFunctions
import TMQueue

/// A record that did nothing and can do nothing before a time (`RetryDeferring` in the function,
/// the cold `order-placer`'s open circuit) travels the protocol as `not_before_ms`, and the
/// dispatcher's queue defers its message without using up an attempt — as the resident worker's does.
@Suite(.serialized, .timeLimit(.minutes(3))) struct FunctionDeferralTests {
    let harness = TestFunctionHarness()

    @Test func aDeferringRecordReportsItsNotBefore() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest()))
        let before = Date()
        let outcome = await invoker.invoke(harness.request([#"{"mode":"echo"}"#, #"{"mode":"defer","sleep_ms":60000}"#]))
        #expect(outcome.kind == .partial)
        #expect(outcome.failure(of: "m1") == nil)
        let failure = try #require(outcome.failure(of: "m2"))
        #expect(failure.retryable)
        let notBefore = try #require(failure.notBefore, "a deferral carries its time")
        #expect(notBefore > before.addingTimeInterval(30))
    }

    @Test func theDispatcherDefersTheMessageWithoutUsingAnAttempt() async throws {
        // One delivery: a counted failure would dead-letter the message at once.
        let queue = try await TriggerQueue { $0.maxDeliveries = 1 }
        let fn = harness.manifest { $0.trigger = .queue(queue.manifest.name) }
        let functions = try FunctionCatalog([fn])
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness)
        defer { harness.cleanUp() }
        try await queue.enqueue(#"{"mode":"defer","sleep_ms":1500}"#, key: "deferred-1", functions: functions)
        try await eventually("run after its deferral", within: .seconds(60)) {
            let record = try await queue.redis.send("GET", QueueKeys(queue: queue.manifest.name, shard: 0).idempotency("deferred-1")).string ?? ""
            return record.contains("ran after its deferral")
        }
        await dispatcher.stop()
        #expect(harness.invocations >= 2, "deferred at least once")
        #expect(try await queue.deadLetters().isEmpty)
        await queue.cleanUp()
    }
}
