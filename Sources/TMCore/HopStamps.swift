import Foundation
import Synchronization

/// Where one order's wall time goes, stamped in process: the caller's task, each hop to a
/// `BlockingThread`, the job there, the hop back. Recorded only while a benchmark switched it on
/// (order-bench's serial profile, one order in flight at a time, so every stamp is that order's);
/// switched off, a stamp is a call that loads a flag and records nothing.
public enum HopStamps {
    public enum Event: Sendable, Equatable {
        /// The task hands a job to the thread.
        case submit
        /// The thread starts the job.
        case start
        /// The thread finished the job and resumes the task.
        case end
        /// The task runs again after the job.
        case resumed
        /// A named point inside a job or a task (e.g. a broker call's admission granted).
        case mark(String)
    }

    public struct Stamp: Sendable {
        public init(event: Event, thread: String, nanos: UInt64) {
            self.event = event
            self.thread = thread
            self.nanos = nanos
        }
        public let event: Event
        /// The `BlockingThread`'s name (for `.mark`, the name the marker gave).
        public let thread: String
        /// CLOCK_MONOTONIC, nanoseconds.
        public let nanos: UInt64
    }

    private static let on = Atomic<Bool>(false)
    private static let recorded = Locked<[Stamp]>([])

    public static var isOn: Bool { on.load(ordering: .relaxed) }

    /// Starts or stops recording (and forgets what was recorded).
    public static func record(_ enabled: Bool) {
        recorded.withLock { $0.removeAll(keepingCapacity: true) }
        on.store(enabled, ordering: .relaxed)
    }

    @inline(__always)
    public static func stamp(_ event: @autoclosure () -> Event, _ thread: @autoclosure () -> String) {
        guard on.load(ordering: .relaxed) else { return }
        let stamp = Stamp(event: event(), thread: thread(), nanos: now())
        recorded.withLock { $0.append(stamp) }
    }

    /// The stamps since the last `take` (or `record`), in the order they were recorded.
    public static func take() -> [Stamp] {
        recorded.withLock { stamps in
            defer { stamps.removeAll(keepingCapacity: true) }
            return stamps
        }
    }

    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
