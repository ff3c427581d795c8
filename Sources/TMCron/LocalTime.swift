import Foundation

/// How a schedule that matches local wall-clock times treats daylight-saving transitions.
/// Both rules are cronie's.
enum DaylightSavingRule: Sendable {
    /// For "fixed-time" schedules (cron with a restricted hour field, `rate(N days)`): a matching wall
    /// time fires once, at the first instant the zone's clock shows that time *or a later one*. So a
    /// time skipped by a spring-forward jump fires at the jump (several skipped times collapse into that
    /// one instant), and a time repeated by a fall-back fires only at its first occurrence.
    case firstReached
    /// For "wildcard" schedules (cron whose hour field starts with `*`): fire at every instant whose wall
    /// time matches. Skipped times do not occur; repeated times fire in both occurrences, so a job
    /// "every 15 minutes" keeps running every 15 minutes of real time.
    case everyOccurrence
}

/// What the zone-aware search needs from a schedule: wall-time matching, with no zone involved.
protocol WallClockSchedule: Sendable {
    /// The smallest matching wall time (seconds, a whole minute) that is at least `wall` and less
    /// than `limit`, or nil. `wall` is a whole minute.
    func firstMatch(atOrAfter wall: Int64, before limit: Int64) -> Int64?
    var daylightSavingRule: DaylightSavingRule { get }
}

/// How far ahead a search looks before it answers "never": longer than the longest gap between two
/// fire times of any ordinary expression (29 February: 8 years, across 2100).
let searchHorizon: Int64 = 3_660 * secondsPerDay

/// The wall clock of one IANA time zone, seen as a function from instants (Unix seconds) to wall times
/// (local clock readings as seconds since 1970-01-01T00:00 local). The function is increasing between
/// transitions, jumps forward at a spring-forward (a gap of wall times that never occur) and back at a
/// fall-back (an overlap of wall times that occur twice).
///
/// Offsets come from `TimeZone.secondsFromGMT(for:)`, transitions from
/// `TimeZone.nextDaylightSavingTimeTransition(after:)`, both checked against each other so that an
/// offset change the transition list does not report is still found. Every offset in use since 1972
/// is a whole number of minutes, so whole wall minutes are whole UTC minutes.
struct LocalTime: Sendable {
    let zone: TimeZone

    /// Seconds east of UTC at `instant`.
    func offset(at instant: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
    }

    func wall(at instant: Int64) -> Int64 {
        instant + offset(at: instant)
    }

    /// The offset in force from `instant` on, and the first instant after it where the offset changes
    /// (`Int64.max` if it never does).
    func segment(from instant: Int64) -> (offset: Int64, end: Int64) {
        let offset = offset(at: instant)
        guard let next = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: TimeInterval(instant))) else {
            return (offset, .max)
        }
        var end = Int64(next.timeIntervalSince1970.rounded(.up))
        if end <= instant { end = instant + 1 }
        // Trust but verify: if the offset already differs before the reported transition, find where.
        if self.offset(at: end - 1) != offset {
            var low = instant  // offset here is `offset`
            var high = end - 1  // offset here differs
            while high - low > 1 {
                let middle = low + (high - low) / 2
                if self.offset(at: middle) == offset { low = middle } else { high = middle }
            }
            end = high
        }
        return (offset, end)
    }

    /// The latest wall time the clock has shown at or before `instant`. Equal to the wall time at
    /// `instant`, except during the second pass through a repeated hour, where the clock has already
    /// shown later times.
    func latestWallShown(through instant: Int64) -> Int64 {
        // An overlap lasts far less than two days, so only transitions in the last two days matter.
        var latest = wall(at: instant)
        var cursor = instant - 2 * secondsPerDay
        while true {
            let (offset, end) = segment(from: cursor)
            guard end <= instant else { break }
            latest = max(latest, end - 1 + offset)
            cursor = end
        }
        return latest
    }

    /// The first instant at which the clock shows `wall` or a later time: the instant of `wall` itself if
    /// it occurs (its first occurrence if it occurs twice), else the instant the clock jumps over it.
    func firstInstant(reaching wall: Int64) -> Int64 {
        // Offsets stay within ±1 day, so two days earlier the clock certainly showed an earlier time.
        var cursor = wall - 2 * secondsPerDay
        while true {
            let (offset, end) = segment(from: cursor)
            // On [cursor, end) the clock shows [cursor + offset, end + offset).
            if end == .max || wall - offset < end {
                return max(cursor, wall - offset)
            }
            cursor = end
        }
    }

    /// The first fire time of `schedule` strictly after `instant`, or nil if none within the horizon.
    func nextFire(of schedule: some WallClockSchedule, after instant: Int64) -> Int64? {
        switch schedule.daylightSavingRule {
        case .firstReached:
            // Every wall time the clock has shown so far has had its chance; the next one to fire is
            // the first matching wall minute after the latest shown, at the instant it is first reached.
            let shown = latestWallShown(through: instant)
            let start = (floorDiv(shown, 60) + 1) * 60
            guard let wall = schedule.firstMatch(atOrAfter: start, before: start + searchHorizon) else { return nil }
            return firstInstant(reaching: wall)
        case .everyOccurrence:
            // Walk the offset segments forward; in each, the matching instants are the matching walls
            // shifted by that segment's offset.
            let horizon = instant + searchHorizon
            var cursor = (floorDiv(instant, 60) + 1) * 60
            // Wall times known to have no match, so that later segments do not search them again.
            var emptyWalls: Range<Int64> = 0..<0
            while cursor < horizon {
                let (offset, end) = segment(from: cursor)
                var start = (floorDiv(cursor + offset + 59, 60)) * 60
                if emptyWalls.contains(start) { start = emptyWalls.upperBound }
                let limit = (end == .max ? horizon : min(end, horizon)) + offset
                if start < limit, let wall = schedule.firstMatch(atOrAfter: start, before: limit) {
                    return wall - offset
                }
                emptyWalls = start < limit ? start..<limit : emptyWalls
                guard end != .max else { return nil }
                cursor = (floorDiv(end + 59, 60)) * 60
            }
            return nil
        }
    }
}
