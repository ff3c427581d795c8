import Foundation
import TMCore

/// Which slots of a schedule are due, and what the misfire policy makes of the missed ones.
///
/// A slot is missed when it is older than `misfire_grace` as the leader first sees it (no
/// scheduler ran, or the schedule was disabled); a younger one is merely late and fires.
/// Guarantees: `fire` is in slot order, after every slot in `skipped`; at most `recordLimit` missed
/// slots are listed for recording (the most recent), however long the downtime was.
struct DuePlan: Sendable, Equatable {
    struct Fire: Sendable, Equatable {
        let slot: Date
        let trigger: Firing.Trigger
    }

    var skipped: [Date] = []
    var fire: [Fire] = []
    /// Every missed slot, recorded or not.
    var missed = 0

    static let recordLimit = 1000

    static func make(
        _ times: ScheduleTimes, after last: Date, now: Date, grace: Duration, policy: MisfirePolicy,
        recordLimit: Int = DuePlan.recordLimit
    ) -> DuePlan {
        let keep: Int
        if case .catchUp(let limit) = policy { keep = recordLimit + limit } else { keep = recordLimit + 1 }
        var plan = DuePlan()
        var late: [Date] = []
        var onTime: [Date] = []
        var cursor = last
        // In chunks, keeping only the most recent missed slots: a week of `rate(1 second)` is long.
        while true {
            let chunk = times.times(after: cursor, through: now, limit: 10_000)
            for slot in chunk {
                if now.timeIntervalSince(slot) > grace.seconds {
                    late.append(slot)
                    plan.missed += 1
                } else {
                    onTime.append(slot)
                }
            }
            if late.count > 2 * keep { late.removeFirst(late.count - keep) }
            guard chunk.count == 10_000, let end = chunk.last else { break }
            cursor = end
        }
        late = Array(late.suffix(keep))
        let firedLate: [Date]
        switch policy {
        case .skip: firedLate = []
        case .fireOnce: firedLate = Array(late.suffix(1))
        case .catchUp(let limit): firedLate = Array(late.suffix(limit))
        }
        plan.skipped = Array(late.dropLast(firedLate.count).suffix(recordLimit))
        plan.fire = firedLate.map { Fire(slot: $0, trigger: .catchUp) } + onTime.map { Fire(slot: $0, trigger: .schedule) }
        return plan
    }
}
