import Foundation
import Testing
import TestSupport
import TMQueue

/// A running consumer gives back each finished handler's task: its resident memory does not grow with
/// the messages it has handled. (A task group that is never awaited keeps every finished child task,
/// and with it the slabs its frames were allocated in, until the group ends — for a worker, never.)
@Suite(.serialized, .timeLimit(.minutes(2))) struct ConsumerMemoryTests {
    /// This process's resident set, in bytes (`/proc/self/statm`, field 2, in pages).
    static func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Holds 32 KB across a suspension, so it lives in the task's own allocator
    /// (as the order placer's frames do: ~48 KB a message in order-bench), and reads them after it.
    static func handlerFrame() async -> UInt64 {
        var frame = InlineArray<4096, UInt64>(repeating: 1)
        await Task.yield()
        frame[4095] += 1
        return frame[0] + frame[4095]
    }

    @Test func residentMemoryDoesNotGrowWithTheMessagesHandled() async throws {
        let queue = try await TestQueue()
        defer { Task { await queue.cleanUp() } }
        let (consumer, task) = queue.consume { _ in
            _ = await Self.handlerFrame()
            return nil
        }
        func handle(_ count: Int) async throws {
            let target = consumer.counters.handled + count
            let messages = (0..<count).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) }
            for result in try await queue.producer.enqueueBatch(queue.name, messages) { _ = try result.get() }
            try await eventually("handled \(target)", within: .seconds(60)) { consumer.counters.handled >= target }
        }
        // Warmed up first: the consumer's connections, buffers and its concurrency's worth of tasks.
        try await handle(300)
        let before = try Self.residentBytes()
        let count = 2000
        try await handle(count)
        let grown = try Self.residentBytes() - before
        consumer.stop()
        try await task.value
        // Kept tasks add their 32 KB frames' slabs: ~70 MB over these messages (measured before the fix).
        // The bound, 3 pages a message (24 MB), leaves room for what other suites' leftover tasks may
        // allocate in this process meanwhile, and still fails a third of that.
        #expect(grown < count * 3 * 4096, "resident memory grew by \(grown / 1024) KB over \(count) messages handled")
    }
}
