import Foundation
import TMLocks

/// One row of `schedule_firings`: what became of one slot of one schedule.
public struct Firing: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        /// Reserved, enqueue not yet confirmed (a crash here is completed by the next leader).
        case pending
        case enqueued
        case skippedOverlap = "skipped_overlap"
        case skippedMisfire = "skipped_misfire"
        /// Waiting for the previous run to end (overlap: buffer-one).
        case buffered
        /// Its enqueue was sent but never confirmed, and its idempotency record may have expired
        /// since: it is not sent again (that could run the slot twice). See `detail`.
        case unconfirmed
    }

    public enum Trigger: String, Sendable, CaseIterable {
        /// Fired on time (or late within misfire_grace) by the leader.
        case schedule
        /// `tm schedules fire`.
        case manual
        /// `tm schedules backfill`.
        case backfill
        /// Fired late by the misfire policy (fire-once or catch-up).
        case catchUp = "catch-up"
    }

    public let schedule: String
    public let slot: Date
    public let state: State
    public let trigger: Trigger
    public let queue: String?
    public let key: String
    public let messageID: String?
    public let leader: String
    public let fencingToken: Int64?
    public let detail: String?
    public let firedAt: Date?
}

/// Who writes firing rows. The leader's writes are fenced: each runs in a transaction that first
/// checks its lease's fencing token, so a deposed (paused, expired) leader writes nothing.
/// `cli`: an operator's `tm schedules fire` / `backfill`, which are not leaders; the unique (schedule, slot)
/// row and the idempotency key keep them exactly-once all the same.
public enum FiringAuthority: Sendable {
    case leader(LockLease, identity: String)
    case cli(String)

    public var identity: String {
        switch self {
        case .leader(_, let identity): return identity
        case .cli(let identity): return identity
        }
    }

    var fencingToken: Int64? {
        if case .leader(let lease, _) = self { return lease.fencingToken }
        return nil
    }
}
