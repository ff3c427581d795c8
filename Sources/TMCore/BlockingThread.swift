import Foundation

/// A dedicated OS thread that runs blocking work — C library calls into hiredis, libpq or libcurl —
/// so that it never occupies a thread of Swift's cooperative pool.
///
/// Guarantees: jobs run one at a time, in submission order, on the same thread for the thread's whole
/// life (so a C handle owned by the thread is never touched concurrently). `run` suspends the caller
/// without blocking it; `submit` hands a job over without waiting at all. After `shutdown()` —
/// called by `deinit` when the last reference goes — new jobs fail with `BlockingThread.Stopped`
/// (`submit` returns false); jobs already queued still run, then the thread exits.
///
/// A hop costs two thread wake-ups (this thread, then a pool thread for the resumed caller), so a
/// submit wakes the thread only when it sleeps, and outside the queue's lock (see `JobQueue.submit`).
/// A caller whose task prefers `ResumingThreadExecutor` is resumed on this thread instead, right
/// after its job: one wake-up per hop.
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
            // Foundation on Linux does not pass a name set before `start()` to the OS thread, and
            // setting `Thread.current.name` did not reliably reach it either (most of a bench's
            // Postgres threads kept the pool thread's name they were started from): named here,
            // so `top -H`, perf and `/proc/<pid>/task/*/comm` tell the threads apart.
            Self.nameOSThread(name)
            queue.drain()
        }
        thread.start()
    }

    deinit { shutdown() }

    /// Names the calling OS thread: the OS keeps 15 bytes, so a longer name keeps its start and its
    /// end (`broker-lanes-12` stays whole; a lane number is never cut off).
    static func nameOSThread(_ name: String) {
        var bytes = Array(name.utf8)
        if bytes.count > 15 {
            // Cut between characters, never inside one: the name must stay readable UTF-8.
            var start = Substring(name), end = Substring(name)
            while start.utf8.count > 7 { start = start.dropLast() }
            while end.utf8.count > 7 { end = end.dropFirst() }
            bytes = Array(start.utf8) + [UInt8(ascii: "~")] + Array(end.utf8)
        }
        // `pthread_setname_np` is not visible to Swift here (a _GNU_SOURCE declaration): the kernel's
        // own file for the calling thread's name does the same.
        let file = open("/proc/thread-self/comm", O_WRONLY)
        guard file >= 0 else { return }
        _ = bytes.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
        close(file)
    }

    /// Runs `body` on this thread and returns its result to the awaiting caller.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let name = self.name
        HopStamps.stamp(.submit, name)
        defer { HopStamps.stamp(.resumed, name) }
        let queue = self.queue
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            let accepted = queue.submit {
                HopStamps.stamp(.start, name)
                let result = Result { try body() }
                HopStamps.stamp(.end, name)
                queue.handOff { continuation.resume(with: result) }
            }
            if !accepted { continuation.resume(throwing: Stopped(name: name)) }
        }
    }

    /// Queues `job` to run on this thread and returns at once, without waiting for it: a hand-off
    /// from one thread to another with no task in between (the job answers whoever waits for it).
    /// Jobs keep their order with `run`'s. Returns false after `shutdown()`: the job was dropped
    /// and will never run, so the caller must answer its waiter itself.
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let name = self.name
        HopStamps.stamp(.submit, name)
        return queue.submit {
            HopStamps.stamp(.start, name)
            job()
            HopStamps.stamp(.end, name)
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

    /// Whether the thread is asleep waiting for a job (for tests).
    var isSleeping: Bool { queue.isSleeping }

    /// Jobs queued and not yet taken by the thread (for tests).
    var queuedJobs: Int { queue.queuedJobs }
}

/// The jobs waiting for a `BlockingThread`, shared by the handle and the thread.
final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false
    /// The thread is in (or about to enter) `condition.wait()`: only then does a submit signal it.
    private var sleeping = false
    private var owner: pthread_t?
    // Touched only by the draining thread (no lock): the resume `handOff` is running, and the task
    // it gave `ResumingThreadExecutor` to run once the job returns.
    private var handingOff = false
    private var adopted: (job: UnownedJob, executor: ResumingThreadExecutor)?
    /// Jobs of the batch being run that come after the current one.
    private var batchLeft = 0

    /// The queue the calling thread drains, if it is a `BlockingThread`.
    static var current: JobQueue? {
        guard let pointer = pthread_getspecific(currentKey) else { return nil }
        return Unmanaged<JobQueue>.fromOpaque(pointer).takeUnretainedValue()
    }

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Runs `resume` (a job's last act) so that a task it resumes may be adopted by this thread.
    func handOff(_ resume: () -> Void) {
        handingOff = true
        resume()
        handingOff = false
    }

    /// Takes `job` to run after the current job, if it was resumed by `handOff` on this thread, no
    /// task was adopted yet, and no other job waits for the thread (the task would hold it up: a
    /// shared connection's other callers, a lane's next request); false: the caller must run it
    /// elsewhere.
    func adopt(_ job: UnownedJob, for executor: ResumingThreadExecutor) -> Bool {
        guard handingOff, adopted == nil, batchLeft == 0, queuedJobs == 0 else { return false }
        adopted = (job, executor)
        return true
    }

    /// Runs the adopted task until it suspends (it may adopt no other: only a job's hand-off can).
    private func runAdopted() {
        guard let (job, executor) = adopted else { return }
        adopted = nil
        job.runSynchronously(on: executor.asUnownedTaskExecutor())
    }

    /// Whether the caller is the thread draining this queue.
    var isOwnerThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }

    var isSleeping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return sleeping
    }

    var queuedJobs: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count
    }

    func submit(_ job: @escaping () -> Void) -> Bool {
        condition.lock()
        guard !stopping else {
            condition.unlock()
            return false
        }
        jobs.append(job)
        let wake = sleeping
        condition.unlock()
        // After the unlock: a thread woken while the lock is still held at once blocks on it again
        // (a second futex wait and wake per job; strace showed it on every hop). A signal that finds
        // the thread already awake is harmless: it re-checks `jobs` under the lock.
        if wake { condition.signal() }
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
        // The queue lives as long as its thread: the thread's closure holds it.
        pthread_setspecific(Self.currentKey, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.currentKey, nil) }
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping {
                sleeping = true
                condition.wait()
                sleeping = false
            }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for (index, job) in batch.enumerated() {
                batchLeft = batch.count - index - 1
                job()
                runAdopted()
            }
        }
    }
}
