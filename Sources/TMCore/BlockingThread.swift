import Foundation

/// A dedicated OS thread that runs blocking work — C library calls into hiredis, libpq or libcurl —
/// so that it never occupies a thread of Swift's cooperative pool.
///
/// Guarantees: jobs run one at a time, in submission order, on the same thread for the thread's whole
/// life (so a C handle owned by the thread is never touched concurrently). `run` suspends the caller
/// without blocking it. After `shutdown()` new jobs fail with `BlockingThread.Stopped`; jobs already
/// queued still run.
public final class BlockingThread: @unchecked Sendable {
    /// Thrown by `run` after `shutdown()`.
    public struct Stopped: Error, CustomStringConvertible {
        public let name: String
        public var description: String { "blocking thread '\(name)' has been shut down" }
    }

    public let name: String
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false
    private var thread: Thread?

    public init(name: String) {
        self.name = name
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    deinit {
        shutdown()
    }

    /// Runs `body` on this thread and returns its result to the awaiting caller.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = submit {
                continuation.resume(with: Result { try body() })
            }
            if !accepted { continuation.resume(throwing: Stopped(name: name)) }
        }
    }

    /// Runs `body` on this thread and blocks the calling (non-cooperative) thread until it is done.
    /// For synchronous callers such as command-line tools.
    public func runAndWait<T>(_ body: @escaping () throws -> T) throws -> T {
        if Thread.current === thread { return try body() }
        let done = NSCondition()
        var result: Result<T, Error>?
        let accepted = submit {
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
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func submit(_ job: @escaping () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    private func loop() {
        // Foundation on Linux does not pass a name set before `start()` to the OS thread.
        Thread.current.name = name
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
