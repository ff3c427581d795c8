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
        defer { consumer.stop() }
        let count = 2000
        func handle() async throws {
            let target = consumer.counters.handled + count
            let messages = (0..<count).map { OutgoingMessage(payload: Array("{\"n\":\($0)}".utf8)) }
            for result in try await queue.producer.enqueueBatch(queue.name, messages) { _ = try result.get() }
            try await eventually("handled \(target)", within: .seconds(60)) { consumer.counters.handled >= target }
        }
        // Warmed up first, with batches of the size measured: the consumer's connections, buffers and
        // its concurrency's worth of tasks, the producer's buffers.
        try await handle()
        // Two windows, the smaller growth asserted: memory another suite's leftover task allocates in
        // this process meanwhile shows in one window at most; kept tasks grow both alike.
        var grown: [Int] = []
        for _ in 0..<2 {
            let before = try Self.residentBytes()
            try await handle()
            grown.append(try Self.residentBytes() - before)
        }
        consumer.stop()
        try await task.value
        // Kept tasks add their 32 KB frames' slabs: ~70 MB per window (measured before the fix).
        // A page a message (8 MB) is the bound.
        print("ConsumerMemoryTests: resident growth per \(count) messages: \(grown.map { $0 / 1024 }) KB")
        #expect(grown.min()! < count * 4096, "resident memory grew by \(grown.map { $0 / 1024 }) KB over \(count) messages handled")
    }
}
