import Foundation
import Testing
@testable import TMCore

/// `BlockingThread.submit`: a job handed over without waiting runs on the thread, in order with the
/// jobs `run` queues; after `shutdown()` it is refused (false) and never runs.
@Suite(.timeLimit(.minutes(1))) struct BlockingThreadSubmitTests {
    @Test func aSubmittedJobRunsOnTheThreadInOrderWithRunsJobs() async throws {
        let thread = BlockingThread(name: "submit-order")
        defer { thread.shutdown() }
        let ran = Locked<[Int]>([])
        let threadID = try await thread.run { UInt(pthread_self()) }
        let sameThread = Locked(true)
        for i in 0..<50 {
            #expect(thread.submit {
                sameThread.withLock { $0 = $0 && UInt(pthread_self()) == threadID }
                ran.withLock { $0.append(i) }
            })
        }
        // Queued after the fifty: when it runs they have all run.
        let seen = try await thread.run { ran.current }
        #expect(seen == Array(0..<50))
        #expect(sameThread.current)
    }

    /// One thread hands a job to another and the second answers the waiting task: no task between them.
    @Test func aJobSubmittedFromAnotherThreadAnswersTheWaiter() async throws {
        let first = BlockingThread(name: "submit-first")
        let second = BlockingThread(name: "submit-second")
        defer { first.shutdown(); second.shutdown() }
        let threads = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt], Error>) in
            let handed = first.submit {
                let from = UInt(pthread_self())
                if !second.submit({ continuation.resume(returning: [from, UInt(pthread_self())]) }) {
                    continuation.resume(throwing: BlockingThread.Stopped(name: second.name))
                }
            }
            if !handed { continuation.resume(throwing: BlockingThread.Stopped(name: first.name)) }
        }
        #expect(threads.count == 2 && threads[0] != threads[1])
    }

    @Test func aSubmitAfterShutdownIsRefusedAndNeverRuns() async throws {
        let thread = BlockingThread(name: "submit-stopped")
        _ = try await thread.run { 0 }
        thread.shutdown()
        let ran = Locked(false)
        #expect(thread.submit { ran.withLock { $0 = true } } == false)
        // A thread that stopped accepting still refuses `run`, so nothing queued behind could flush it.
        await #expect(throws: BlockingThread.Stopped.self) { try await thread.run { 0 } }
        #expect(ran.current == false)
    }
}
