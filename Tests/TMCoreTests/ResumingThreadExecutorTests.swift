import Foundation
import Testing
import TestSupport
@testable import TMCore

/// `ResumingThreadExecutor`: a task that prefers it runs, after a `BlockingThread.run` hop, on the
/// thread that answered it (right after that job, before the thread's next one); anything else it is
/// given runs on Swift's pool, and tasks without the preference never reach it.
@Suite(.timeLimit(.minutes(1))) struct ResumingThreadExecutorTests {
    static func threadID() -> UInt { UInt(pthread_self()) }

    /// Hops to `thread` until the task runs on it: a hop answered before the task finished suspending
    /// leaves it where it was, so the job gives the task a moment to suspend (not asserted on).
    static func hopUntilAdopted(by thread: BlockingThread) async throws {
        for _ in 0..<100 where !ResumingThreadExecutor.isOnBlockingThread {
            _ = try await thread.run { Thread.sleep(forTimeInterval: 0.002) }
        }
    }


    /// Hops alternate between two threads. A task suspended on a hop runs on the thread that answered
    /// it; one answered before it finished suspending goes on where it was (Swift's fast path) — so
    /// once on one of the two threads the task never goes back to the pool.
    @Test func aTaskPreferringItRunsOnTheThreadThatAnsweredEachHop() async throws {
        let first = BlockingThread(name: "resume-first")
        let second = BlockingThread(name: "resume-second")
        defer { first.shutdown(); second.shutdown() }
        let hops = try await withTaskExecutorPreference(ResumingThreadExecutor.shared) {
            #expect(ResumingThreadExecutor.isPreferredByCurrentTask)
            try await Self.hopUntilAdopted(by: first)
            var hops: [(job: UInt, task: UInt, onThread: Bool)] = []
            for hop in 0..<40 {
                let thread = hop.isMultiple(of: 2) ? first : second
                let job = try await thread.run { Self.threadID() }
                hops.append((job, Self.threadID(), ResumingThreadExecutor.isOnBlockingThread))
            }
            return hops
        }
        let threads = Set(hops.map(\.job))
        #expect(threads.count == 2)
        #expect(hops.allSatisfy { $0.onThread && threads.contains($0.task) }, "\(hops.map(\.onThread))")
        #expect(hops.contains { $0.job == $0.task })
    }

    @Test func aTaskWithoutThePreferenceIsResumedOnThePool() async throws {
        let thread = BlockingThread(name: "resume-none")
        defer { thread.shutdown() }
        var onThread = 0
        for _ in 0..<20 {
            let job = try await thread.run { Self.threadID() }
            if job == Self.threadID() || ResumingThreadExecutor.isOnBlockingThread { onThread += 1 }
        }
        #expect(onThread == 0)
    }

    /// A thread with other jobs waiting does not adopt: the task would hold them up (a shared
    /// connection's other callers, a lane's next request). Here the task's job and another are taken
    /// in one batch behind a busy thread; the task goes to the pool.
    @Test func aThreadWithJobsWaitingLeavesTheTaskToThePool() async throws {
        let thread = BlockingThread(name: "resume-busy")
        defer { thread.shutdown() }
        let gate = DispatchSemaphore(value: 0)
        #expect(thread.submit { gate.wait() })
        try await eventually("the gate job runs") { thread.queuedJobs == 0 && !thread.isSleeping }
        let task = Task(executorPreference: ResumingThreadExecutor.shared) {
            _ = try await thread.run { 0 }
            return ResumingThreadExecutor.isOnBlockingThread
        }
        try await eventually("the task's job is queued") { thread.queuedJobs == 1 }
        #expect(thread.submit {})
        gate.signal()
        #expect(try await task.value == false)
    }

    /// A job queued while the task's job runs (so not in its batch) also keeps the task off the thread.
    @Test func aJobQueuedDuringTheHopLeavesTheTaskToThePool() async throws {
        let thread = BlockingThread(name: "resume-queued")
        defer { thread.shutdown() }
        let gate = DispatchSemaphore(value: 0)
        #expect(thread.submit { gate.wait() })
        try await eventually("the gate job runs") { thread.queuedJobs == 0 && !thread.isSleeping }
        let task = Task(executorPreference: ResumingThreadExecutor.shared) {
            _ = try await thread.run { _ = thread.submit {} }
            return ResumingThreadExecutor.isOnBlockingThread
        }
        try await eventually("the task's job is queued") { thread.queuedJobs == 1 }
        gate.signal()
        #expect(try await task.value == false)
    }

    /// An adopted task runs after its job, not inside the hand-off: a task it resumes in turn is not
    /// adopted (it would wait for the thread's next job) and runs on the pool.
    @Test func aTaskResumedByAnAdoptedTaskRunsOnThePool() async throws {
        let thread = BlockingThread(name: "resume-nested")
        defer { thread.shutdown() }
        let parked = Locked<CheckedContinuation<Void, Never>?>(nil)
        let second = Task(executorPreference: ResumingThreadExecutor.shared) {
            await withCheckedContinuation { continuation in parked.withLock { $0 = continuation } }
            return ResumingThreadExecutor.isOnBlockingThread
        }
        try await eventually("the second task waits") { parked.current != nil }
        let first = Task(executorPreference: ResumingThreadExecutor.shared) {
            try await Self.hopUntilAdopted(by: thread)
            let adopted = ResumingThreadExecutor.isOnBlockingThread
            parked.current?.resume()
            return adopted
        }
        #expect(try await first.value)
        #expect(await second.value == false)
    }

    /// A task resumed in the middle of a job (not by `run`'s answer) is not adopted: the job may go on
    /// with its thread's C handle, so the task runs on the pool.
    @Test func aTaskResumedInTheMiddleOfAJobRunsOnThePool() async throws {
        let thread = BlockingThread(name: "resume-middle")
        defer { thread.shutdown() }
        let onThread = await withTaskExecutorPreference(ResumingThreadExecutor.shared) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                _ = thread.submit { continuation.resume() }
            }
            return ResumingThreadExecutor.isOnBlockingThread
        }
        #expect(onThread == false)
    }

    @Test func aTaskResumedByATimerRunsOnThePool() async throws {
        let thread = BlockingThread(name: "resume-timer")
        defer { thread.shutdown() }
        let onThread = try await withTaskExecutorPreference(ResumingThreadExecutor.shared) {
            try await Self.hopUntilAdopted(by: thread)
            let before = ResumingThreadExecutor.isOnBlockingThread
            try await Task.sleep(for: .milliseconds(5))
            return (before, ResumingThreadExecutor.isOnBlockingThread)
        }
        #expect(onThread.0 == true)
        #expect(onThread.1 == false)
    }

    /// From an adopted task, `runAndWait` on the thread it runs on runs inline instead of waiting for
    /// itself.
    @Test func runAndWaitFromTheAdoptingThreadRunsInline() async throws {
        let thread = BlockingThread(name: "resume-wait")
        defer { thread.shutdown() }
        let value = try await withTaskExecutorPreference(ResumingThreadExecutor.shared) {
            try await Self.hopUntilAdopted(by: thread)
            #expect(ResumingThreadExecutor.isOnBlockingThread)
            return try thread.runAndWait { 7 }
        }
        #expect(value == 7)
    }
}
