import Foundation
import Testing
import TestSupport
import TMCore
@testable import TMQueue

/// What a crashed function process looks like to the consumer: every message of the batch failed, retryably.
struct ProcessCrashed: Error, CustomStringConvertible {
    var description: String { "crash: killed by signal 6" }
}

/// A batch whose process died is reclaimed whole; its messages must then run one by one, so a
/// poison message among them cannot crash its innocent batch-mates again.
extension BatchHandlerTests {
    @Test func aReclaimedBatchRunsOneByOneSoOnlyThePoisonMessageIsDeadLettered() async throws {
        let queue = try await TestQueue {
            $0.visibilityTimeout = .seconds(1)
            $0.maxDeliveries = 1
        }
        defer { Task { await queue.cleanUp() } }
        let ids = try await queue.producer.enqueueBatch(queue.name, (0..<5).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) })
            .map { try $0.get().id }
        let poison = 2

        // The first consumer's batch never comes back (its process died on the poison message).
        let started = Locked(false)
        let (dead, deadTask) = consume(queue, batchSize: 5, concurrency: 5, grace: .milliseconds(100)) { batch in
            started.withLock { $0 = true }
            try? await Task.sleep(for: .seconds(120))
            return batch.map { _ in .failure(CancellationError()) }
        }
        try await eventually("the batch is running") { started.current }
        dead.stop()
        try await deadTask.value

        // The successor reclaims the five; a batch holding the poison message crashes as a whole.
        let batches = Locked<[[Int]]>([])
        let completed = Locked<[Int]>([])
        let (successor, task) = consume(queue, batchSize: 5, concurrency: 5) { batch in
            let numbers = batch.map(Self.number)
            batches.withLock { $0.append(numbers) }
            if numbers.contains(poison) { return batch.map { _ in .failure(ProcessCrashed()) } }
            completed.withLock { $0 += numbers }
            return batch.map { _ in .success(nil) }
        }
        try await eventually("all settled") { successor.counters.handled + successor.counters.deadLettered == 5 }
        successor.stop()
        try await task.value

        #expect(batches.current.allSatisfy { $0.count == 1 }, "redelivered messages run alone: \(batches.current)")
        #expect(completed.current.sorted() == [0, 1, 3, 4], "each innocent message completed exactly once")
        let deadLetters = try await queue.deadLetters()
        #expect(deadLetters.map(\.fields["id"]) == [ids[poison]])
        #expect(deadLetters.first?.fields["error"] == "crash: killed by signal 6")
        #expect(try await queue.streamLength() == 0)
    }

    /// Fresh messages still go in batches of the batch size; a redelivered one among them is cut out alone.
    @Test func freshMessagesAreBatchedAndARedeliveredOneRunsAlone() {
        func delivery(_ n: Int, attempt: Int = 1, deliveries: Int = 1) -> Delivery {
            Delivery(queue: "q", shard: 0, streamID: "\(n)-0", id: "m\(n)", key: nil, payload: Array("{\"n\":\(n)}".utf8),
                     attempt: attempt, epoch: 1, deliveries: deliveries, enqueuedAt: Date(), history: [])
        }
        let read = [delivery(0), delivery(1), delivery(2, deliveries: 2), delivery(3), delivery(4, attempt: 2), delivery(5)]
        let batches = QueueConsumer.batches(of: read, size: 2).map { $0.map(Self.number) }
        #expect(batches == [[0, 1], [2], [4], [3, 5]], "\(batches)")
    }
}
