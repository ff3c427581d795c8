import Foundation
import Testing
import TestSupport
import TMFunctions
import TMPostgres
import TMQueue

/// A poison message that kills the (warm) function process fails its whole batch; the batch-mates
/// come back with it, and must not be batched with it again: each redelivered message runs alone,
/// so only the poison one ends in the dead-letter queue.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DispatcherPoisonBatchTests {
    let harness = TestFunctionHarness()

    @Test func aCrashedBatchsInnocentMessagesCompleteOnceAndOnlyThePoisonIsDeadLettered() async throws {
        let queue = try await TriggerQueue { $0.maxDeliveries = 2 }
        let db = try TestDatabase(migrated: true, prefix: "tm_fn")
        let pool = PostgresPool(configuration: db.configuration, size: 1)
        let log = InvocationLog(pool: pool, dispatcher: "test")
        let fn = harness.manifest {
            $0.trigger = .queue(queue.manifest.name)
            $0.warm = true
            $0.batchSize = 3
            // Long enough that the retried messages (backoff at most 200 ms) would meet in one batch again.
            $0.batchWindow = .seconds(1)
            $0.reservedConcurrency = 1
        }
        let functions = try FunctionCatalog([fn])
        // Enqueued before the dispatcher starts, so the first read takes all three into one batch.
        for body in [#"{"mode":"echo","n":1}"#, #"{"mode":"crash"}"#, #"{"mode":"echo","n":3}"#] {
            try await queue.enqueue(body, functions: functions)
        }
        let dispatcher = try RunningDispatcher(functions: [fn], queue: queue, harness: harness, log: log)
        defer { harness.cleanUp() }
        try await eventually("every message settled") {
            let backlog = try await queue.backlog()
            let ok = dispatcher.dispatcher.outcomes[fn.name]?[.ok] ?? 0
            let dead = try await queue.deadLetters().count
            return backlog == 0 && ok + dead == 3
        }
        await dispatcher.stop()
        await log.flush()

        let dead = try await queue.deadLetters()
        #expect(dead.map { $0["payload"] ?? "" } == [#"{"mode":"crash"}"#], "only the poison message is dead-lettered")
        #expect(dead.first?["error"]?.hasPrefix("crash:") == true, "\(dead.first?["error"] ?? "")")
        let rows = try db.connect().query("SELECT records, outcome FROM function_invocations ORDER BY started_at").rows
        let runs = try rows.map { "\(try $0.decode("outcome", as: String.self))×\(try $0.decode("records", as: Int.self))" }
        // The batch of three crashed; then each came back alone: the two innocent ones ran once each.
        #expect(runs.first == "crash×3", "\(runs)")
        #expect(runs.dropFirst().sorted() == ["crash×1", "ok×1", "ok×1"], "\(runs)")
        #expect(dispatcher.dispatcher.outcomes[fn.name]?[.ok] == 2)
        await pool.shutdown()
        await queue.cleanUp()
    }
}
