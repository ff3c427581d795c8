import Foundation
import Testing
import TestSupport
import TMCore
import TMQueue

/// `QueueConsumer.Options.taskExecutor`: the consumer's handlers prefer it (its tasks are
/// unstructured, so only the option can give them a preference); nil keeps them on Swift's pool.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ConsumerTaskExecutorTests {
    /// Whether the handler's task preferred the executor, for each message handled.
    func handlerPrefers(_ executor: (any TaskExecutor)?) async throws -> [Bool] {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let seen = Locked<[Bool]>([])
        var options = QueueConsumer.Options()
        options.taskExecutor = executor
        let (consumer, task) = queue.consume(options: options) { _ in
            seen.withLock { $0.append(ResumingThreadExecutor.isPreferredByCurrentTask) }
            return nil
        }
        try await queue.enqueue("{\"probe\":1}")
        try await eventually("handled") { consumer.counters.handled == 1 }
        consumer.stop()
        try await task.value
        return seen.current
    }

    @Test func handlersPreferTheOptionsExecutor() async throws {
        #expect(try await handlerPrefers(ResumingThreadExecutor.shared) == [true])
    }

    @Test func withoutTheOptionHandlersRunOnThePool() async throws {
        #expect(try await handlerPrefers(nil) == [false])
    }
}
