import Foundation
import TMQueue
import TMRedis

/// One schedule as an operator sees it (`tm schedules`).
public struct ScheduleStatus: Codable, Sendable {
    /// One upcoming fire time, in the schedule's zone and in UTC.
    public struct FireTime: Codable, Sendable, Hashable {
        public var local: String
        public var utc: String
    }

    /// The latest slot that has a row.
    public struct LastFiring: Codable, Sendable {
        public var slot: String
        public var state: String
        public var trigger: String
        public var messageID: String?
        public var firedAt: String?
        public var detail: String?

        enum CodingKeys: String, CodingKey {
            case slot, state, trigger, detail
            case messageID = "message_id"
            case firedAt = "fired_at"
        }
    }

    public var name: String
    public var description: String?
    public var expressions: [String]
    public var timezone: String
    public var target: String
    /// The queue the target resolves to, when it does.
    public var queue: String?
    public var enabled: Bool
    public var misfire: String
    public var overlap: String
    public var next: [FireTime]
    public var lastFiring: LastFiring?
    /// Why the schedule is not firing now (disabled, unresolvable target, no leader), or nil.
    public var notFiring: String?

    enum CodingKeys: String, CodingKey {
        case name, description, expressions, timezone, target, queue, enabled, misfire, overlap, next
        case lastFiring = "last_firing"
        case notFiring = "not_firing"
    }
}

/// The whole scheduler as an operator sees it.
public struct SchedulerStatus: Codable, Sendable {
    public var leader: LeaderIdentity?
    public var schedules: [ScheduleStatus]
}

/// Builds the operator view from the manifests, Postgres (last firings) and Redis (the leader).
///
/// Guarantees: read-only; every schedule is listed, with the reason it is not firing if it is not.
public struct ScheduleInspector: Sendable {
    public let catalog: ScheduleCatalog
    public let resolver: any ScheduleTargetResolving
    public let store: FiringStore
    public let registry: LeaderRegistry

    public init(catalog: ScheduleCatalog, resolver: any ScheduleTargetResolving, store: FiringStore, registry: LeaderRegistry) {
        self.catalog = catalog
        self.resolver = resolver
        self.store = store
        self.registry = registry
    }

    public func status(now: Date = Date()) async throws -> SchedulerStatus {
        let leader = try await registry.current()
        var schedules: [ScheduleStatus] = []
        for schedule in catalog.schedules {
            var queue: String?
            var notFiring: String?
            do {
                queue = try resolver.queue(for: schedule.target).name
            } catch {
                notFiring = "\(error)"
            }
            if !schedule.enabled { notFiring = "disabled (enabled: false)" }
            if notFiring == nil, leader == nil { notFiring = "no scheduler is leading: start `tm schedule run`" }
            let zone = schedule.times.timeZone
            let last = try await store.latestFiring(of: schedule.name)
            schedules.append(ScheduleStatus(
                name: schedule.name, description: schedule.description,
                expressions: schedule.times.expressions.map(\.description), timezone: zone.identifier == "GMT" ? "UTC" : zone.identifier,
                target: schedule.target.description, queue: queue, enabled: schedule.enabled,
                misfire: "\(schedule.misfire)", overlap: schedule.overlap.rawValue,
                next: schedule.times.next(3, after: now).map { .init(local: Slot.iso8601($0, in: zone), utc: Slot.iso8601($0, in: .gmt)) },
                lastFiring: last.map { firing in
                    .init(slot: Slot.iso8601(firing.slot, in: .gmt), state: firing.state.rawValue, trigger: firing.trigger.rawValue,
                          messageID: firing.messageID, firedAt: firing.firedAt.map { Slot.iso8601($0, in: .gmt) }, detail: firing.detail)
                },
                notFiring: notFiring))
        }
        return SchedulerStatus(leader: leader, schedules: schedules)
    }
}
