import Foundation

/// A task executor for tasks whose work is a chain of hops to `BlockingThread`s (a Postgres write,
/// then a broker call, then a Redis settle): when a `BlockingThread.run` job resumes such a task,
/// the task runs on that thread right after the job, instead of waking a thread of Swift's pool.
///
/// Why: on a small machine a hop costs two wake-ups — the blocking thread's, then a pool thread's for
/// the resumed task — and each wake-up is a context switch costing more than the task's own work
/// between hops. Run on the resuming thread, a hop from thread A to thread B wakes only B.
///
/// Guarantees:
/// - Only the resume that ends a `run` job is adopted (`JobQueue.handOff`), and the task runs after
///   that job has returned, from the thread's loop: never nested in a job, never while the job holds
///   a lock, never before the job's C call has finished. Anything else this executor is given (a task
///   resumed by a timer, by another task, or by a thread that is not a `BlockingThread`) runs on
///   Swift's global concurrent executor, as without a preference.
/// - A thread adopts only while no other job waits for it (none left of its batch, none queued), and
///   at most one task per job: a task never holds up another caller's job on a shared connection or
///   a lane (it goes to the pool instead). A job queued while the adopted task runs waits for that
///   task to suspend — one stretch of Swift between two hops.
/// - Tasks that set no preference (`withTaskExecutorPreference`, `Task(executorPreference:)`) are
///   never given to this executor: the rest of the process is unchanged.
///
/// What it asks of the tasks it runs: no blocking between hops (the blocking thread's next job waits
/// for the task to suspend) — the rule Swift's cooperative pool already sets. (`RedisClient.close`'s
/// `runAndWait` is such a block; no task that prefers this executor calls it.)
/// Only `run` hops made by these tasks are adopted: the group commit's, `CoalescedReads`' and
/// `ScriptBatcher`'s drain tasks are plain `Task {}`s on the pool, as are the writers they answer.
public final class ResumingThreadExecutor: TaskExecutor, @unchecked Sendable {
    public static let shared = ResumingThreadExecutor()

    private init() {}

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        if let queue = JobQueue.current, queue.adopt(unowned, for: self) { return }
        globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
    }

    /// Whether the calling code runs on a `BlockingThread` (for tests).
    public static var isOnBlockingThread: Bool { JobQueue.current != nil }
}
