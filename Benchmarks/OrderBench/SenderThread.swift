import Foundation
import TMCore

/// The open loop's load generator on one OS thread of its own (a `TaskExecutor`): the sending task
/// runs only there, so the generator never takes a thread of Swift's pool from the worker it
/// measures. It sleeps on this thread until the next order is due (no timer of the pool's, no pool
/// thread woken per order), and the intake's blocking Postgres look-up blocks this thread only —
/// a pool thread blocked in libpq is one the worker's handlers cannot use, and one more the pool
/// grows by. In production the intake is the API's process, not the worker's.
final class SenderThread: TaskExecutor {
    /// The name its thread carries (`PathCPU` counts the threads of this name, and the intake's, as
    /// the generator's CPU).
    static let name = "sender"
    private let thread = BlockingThread(name: SenderThread.name)

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        guard thread.submit({ unowned.runSynchronously(on: executor) }) else {
            fatalError("the sender's thread was shut down while its task still ran")
        }
    }

    /// Blocks the calling thread until `deadline`: call it only from a task that prefers this
    /// executor (it then blocks the sender's own thread, nothing else).
    static func sleep(until deadline: ContinuousClock.Instant) {
        let left = deadline - ContinuousClock.now
        if left > .zero { Thread.sleep(forTimeInterval: Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18) }
    }

    func shutdown() { thread.shutdown() }
}
