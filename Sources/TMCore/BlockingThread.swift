import Foundation

/// A dedicated OS thread that runs blocking work — C library calls into hiredis, libpq or libcurl —
/// so that it never occupies a thread of Swift's cooperative pool.
///
/// Guarantees: jobs run one at a time, in submission order, on the same thread for the thread's whole
/// life (so a C handle owned by the thread is never touched concurrently). `run` suspends the caller
/// without blocking it. After `shutdown()` — called by `deinit` when the last reference goes — new
/// jobs fail with `BlockingThread.Stopped`; jobs already queued still run, then the thread exits.
public final class BlockingThread: @unchecked Sendable {
    /// Thrown by `run` after `shutdown()`.
    public struct Stopped: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "blocking thread '\(name)' has been shut down" }
    }

    public let name: String
    private let queue: JobQueue

    public init(name: String) {
        self.name = name
        let queue = JobQueue()
        self.queue = queue
        // The thread holds only the queue, never `self`, so dropping the last handle shuts it down.
        let thread = Thread {
            // Foundation on Linux does not pass a name set before `start()` to the OS thread.
            Thread.current.name = name
            queue.drain()
        }
        thread.start()
    }

    deinit { shutdown() }

    /// Runs `body` on this thread and returns its result to the awaiting caller.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = queue.submit {
                continuation.resume(with: Result { try body() })
            }
            if !accepted { continuation.resume(throwing: Stopped(name: name)) }
        }
    }

    /// Runs `body` on this thread and blocks the calling (non-cooperative) thread until it is done.
    /// For synchronous callers such as command-line tools; runs inline when called on this thread.
    public func runAndWait<T>(_ body: @escaping () throws -> T) throws -> T {
        if queue.isOwnerThread { return try body() }
        let done = NSCondition()
        var result: Result<T, Error>?
        let accepted = queue.submit {
            let r = Result { try body() }
            done.lock(); result = r; done.signal(); done.unlock()
        }
        guard accepted else { throw Stopped(name: name) }
        done.lock()
        while result == nil { done.wait() }
        done.unlock()
        return try result!.get()
    }

    /// Stops accepting work; the thread exits once the queued jobs have run.
    public func shutdown() { queue.stop() }
}

/// The jobs waiting for a `BlockingThread`, shared by the handle and the thread.
private final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false
    private var owner: pthread_t?

    /// Whether the caller is the thread draining this queue.
    var isOwnerThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }

    func submit(_ job: @escaping () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    func drain() {
        condition.lock()
        owner = pthread_self()
        condition.unlock()
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job() }
        }
    }
}
