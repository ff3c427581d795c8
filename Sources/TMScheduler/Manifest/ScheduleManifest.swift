import Foundation
import TMQueue

/// One schedule as declared in `Schedules/<name>.yaml`: when it fires, where to, with what.
///
/// Guarantees: every value has been validated when it was parsed (`ScheduleCatalog.parse`): the
/// expressions parse, the zone is a known IANA zone, exactly one target is named, the payload
/// template uses only known placeholders; the defaults are those of a file that says nothing.
public struct ScheduleManifest: Sendable {
    public var name: String
    public var description: String?
    /// The expressions as written; fire times are the union of theirs.
    public var times: ScheduleTimes
    public var target: ScheduleTarget
    /// The message body; nil means `{"schedule": NAME, "slot": "<slot>"}`.
    public var payload: PayloadTemplate?
    /// Each slot's enqueue is delayed by a deterministic amount in [0, jitter) (see `Slot.jitter`).
    public var jitter: Duration = .zero
    public var misfire: MisfirePolicy = .fireOnce
    /// A slot late by less than this is fired late (a failover, a slow tick), not treated as missed.
    public var misfireGrace: Duration = .seconds(60)
    public var overlap: OverlapPolicy = .allow
    public var enabled = true

    public init(name: String, times: ScheduleTimes, target: ScheduleTarget) {
        self.name = name
        self.times = times
        self.target = target
    }

    /// The message for `slot`.
    public func message(for slot: Date) -> [UInt8] {
        (payload ?? .defaultMessage).render(Slot(schedule: name, instant: slot, timeZone: times.timeZone))
    }
}

/// What happens to slots that passed (by more than `misfire_grace`) while no scheduler ran.
public enum MisfirePolicy: Sendable, Hashable, CustomStringConvertible {
    /// None of them fires; each is recorded `skipped_misfire`.
    case skip
    /// Only the latest fires; the others are recorded skipped.
    case fireOnce
    /// The `limit` most recent fire, oldest first; older ones are recorded skipped.
    case catchUp(limit: Int)

    public var description: String {
        switch self {
        case .skip: return "skip"
        case .fireOnce: return "fire-once"
        case .catchUp(let limit): return "catch-up (limit \(limit))"
        }
    }
}

/// What happens to a slot that comes while the previous slot's message is still queued or running.
public enum OverlapPolicy: String, Sendable, Hashable, CaseIterable {
    /// The slot is recorded `skipped_overlap` and never fires.
    case skip
    /// One slot waits (`buffered`) and fires as soon as the previous run ends; further slots
    /// that come while one waits are skipped.
    case bufferOne = "buffer-one"
    /// The slot fires regardless.
    case allow
}

/// A schedule manifest that cannot be used, naming the file, the field and the reason: the same
/// error as a queue manifest's, so every manifest format reports alike.
public typealias ScheduleManifestError = QueueManifestError
