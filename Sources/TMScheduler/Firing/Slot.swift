import Foundation
import TMQueue

/// One fire time of one schedule, and the names it goes by.
///
/// Guarantees: `key` is the same in every process for the same schedule and instant (whole
/// seconds, UTC), so every leader, `tm schedules fire` and a backfill enqueue a slot under one
/// idempotency key; `jitter` is likewise derived from the name and the slot alone.
public struct Slot: Sendable, Hashable {
    public let schedule: String
    /// The instant, whole seconds.
    public let instant: Date
    public let timeZone: TimeZone

    public init(schedule: String, instant: Date, timeZone: TimeZone) {
        self.schedule = schedule
        self.instant = Slot.wholeSeconds(instant)
        self.timeZone = timeZone
    }

    /// e.g. `2026-11-22T02:00:00Z`.
    public var utc: String { Slot.iso8601(instant, in: .gmt) }
    /// e.g. `2026-11-22T07:30:00+05:30`.
    public var local: String { Slot.iso8601(instant, in: timeZone) }
    public var unix: Int64 { Int64(instant.timeIntervalSince1970) }

    /// The idempotency key of this slot's message: `schedule:<name>:<slot ISO UTC>`.
    public var key: String { "schedule:\(schedule):\(utc)" }

    /// A deterministic delay in [0, maximum), whole milliseconds. It hashes with the FNV-1a the
    /// queues use to pick shards, so every process computes the same spread.
    public func jitter(maximum: Duration) -> Duration {
        let ceiling = Int(maximum.milliseconds)
        guard ceiling > 1 else { return .zero }
        return .milliseconds(QueueKeys.shard(for: "\(schedule)|\(utc)", shards: ceiling))
    }

    /// ISO 8601 with the zone's offset (`Z` for UTC), whole seconds.
    public static func iso8601(_ date: Date, in zone: TimeZone) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZoneSeparator: .colon, timeZone: zone))
    }

    /// Drops sub-second parts: slots are whole seconds.
    public static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }
}
