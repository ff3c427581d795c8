import ArgumentParser
import Dispatch
import Foundation
import Logging
import TMCore
import TMCron
import TMPostgres
import TMQueue
import TMRedis
import TMScheduler

// MARK: - tm schedule run

/// `tm schedule`: the scheduler service.
struct Schedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the scheduler service.",
        subcommands: [RunScheduler.self])
}

/// `tm schedule run`: campaigns for leadership and, while leader, fires every schedule's slots.
struct RunScheduler: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scheduler until SIGTERM/SIGINT (several may run: one leads, the others stand by).",
        discussion: """
            Reads Schedules/*.yaml (TM_SCHEDULES_DIR) and Queues/*.yaml (TM_QUEUES_DIR) once at start.
            Logs JSON lines on stderr. SIGTERM or SIGINT stops firing, releases the leader lease and exits 0.
            """)

    @Option(help: "The leader lock every scheduler of one system campaigns for (default: TM_SCHEDULER_LOCK, else scheduler:leader).")
    var lock: String?

    @Option(help: ArgumentHelp("The leader lease; a dead leader is replaced within about this long.", valueName: "duration"))
    var leaseTTL = "10s"

    @Option(help: ArgumentHelp("The longest pause between the leader's ticks.", valueName: "duration"))
    var tick = "500ms"

    func run() async throws {
        let options = SchedulerOptions(
            resource: lock ?? ScheduleSystem.leaderLock(TMEnvironment.current()),
            leaseTTL: try parseDuration(leaseTTL, option: "--lease-ttl", atLeast: .milliseconds(300)),
            tick: try parseDuration(tick, option: "--tick", atLeast: .milliseconds(10)))
        JSONLogHandler.bootstrap()
        try await reportingErrors {
            let system = try await ScheduleSystem.open(clientName: "tm-scheduler")
            defer { system.close() }
            let service = SchedulerService(
                catalog: system.schedules, resolver: system.resolver, redis: system.redis, pool: system.pool,
                options: options, logger: Logger(label: "tm.scheduler"))
            let running = Task { await service.run() }
            // A signal only cancels the task: the service then steps down (stops firing, releases
            // the lease) before `run` returns. A second signal exits at once.
            TerminationSignals.install { _ in running.cancel() }
            await running.value
            await system.pool.shutdown()
        }
    }
}

// MARK: - tm schedules

/// `tm schedules`: the operator's view of the schedules, and firing by hand.
struct Schedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show schedules, fire one now, backfill slots, or check an expression.",
        subcommands: [ListSchedules.self, FireSchedule.self, NextFireTimes.self, BackfillSchedule.self],
        defaultSubcommand: ListSchedules.self)
}

/// `tm schedules [--json]`.
struct ListSchedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Each schedule: expression, zone, target, next fire times, last fired slot, the leader, or why it is not firing.")

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let system = try await ScheduleSystem.open(clientName: "tm-schedules")
            defer { system.close() }
            let status = try await system.inspector.status()
            await system.pool.shutdown()
            print(json ? try encodeJSON(status, pretty: true) : Self.render(status))
        }
    }

    static func render(_ status: SchedulerStatus) -> String {
        var lines: [String] = []
        if let leader = status.leader {
            lines.append("leader: \(leader) (fencing token \(leader.fencingToken), since \(Slot.iso8601(leader.since, in: .gmt)))")
        } else {
            lines.append("leader: none — no scheduler is running (start `tm schedule run`)")
        }
        for schedule in status.schedules {
            lines.append("")
            lines.append(schedule.name + (schedule.description.map { " — \($0)" } ?? ""))
            lines.append("  expression  \(schedule.expressions.joined(separator: " | "))  (\(schedule.timezone))")
            lines.append("  target      \(schedule.target)" + (schedule.queue.map { " → queue \($0)" } ?? ""))
            lines.append("  policies    misfire \(schedule.misfire), overlap \(schedule.overlap)" + (schedule.enabled ? "" : ", disabled"))
            for (index, time) in schedule.next.enumerated() {
                lines.append("  \(index == 0 ? "next      " : "          ")  \(time.local)  =  \(time.utc)")
            }
            if let last = schedule.lastFiring {
                var line = "  last        \(last.slot)  \(last.state) (\(last.trigger))"
                if let id = last.messageID { line += ", message \(id)" }
                if let detail = last.detail { line += ": \(detail)" }
                lines.append(line)
            } else {
                lines.append("  last        never fired")
            }
            // A schedule switched off on purpose is not an alarm; a broken one is.
            let status = !schedule.enabled ? "disabled (enabled: false)" : schedule.notFiring.map { "NOT FIRING: \($0)" } ?? "firing"
            lines.append("  status      " + status)
        }
        return lines.joined(separator: "\n")
    }
}

/// `tm schedules fire NAME`.
struct FireSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fire",
        abstract: "Fire a schedule now: the slot is the current second (or --at), fired exactly once: of two fires of one slot, exactly one reports `fired`.")

    @Argument(help: "The schedule, as named in Schedules/<name>.yaml.")
    var name: String

    @Option(help: ArgumentHelp("Fire the slot of this instant (ISO 8601 with an offset) instead of the current second.", valueName: "time"))
    var at: String?

    @Flag(help: "Print the outcome as JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let requested = try at.map { try parseInstant($0, option: "--at") }
            let system = try await ScheduleSystem.open(checking: name, clientName: "tm-schedules-fire")
            defer { system.close() }
            let schedule = try system.schedules.schedule(name)
            let instant = Slot.wholeSeconds(requested ?? Date())
            let identity = system.operatorIdentity
            let outcome = try await system.firer.fire(schedule, at: instant, trigger: .manual, by: { .cli(identity) })
            await system.pool.shutdown()
            let printed = FiringOutcomeReport(schedule: schedule.slot(instant), outcome)
            print(json ? try encodeJSON(printed) : printed.sentence)
        }
    }
}

/// `tm schedules next EXPR --tz ZONE [--from TIME] [-n N] [--json]`.
struct NextFireTimes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Print the next fire times of an expression (ISO 8601 with the zone's offset), to check it before committing it.")

    @Argument(help: "A five-field cron expression, @daily/@hourly/..., or rate(N seconds|minutes|hours|days).")
    var expression: String

    @Option(help: "The IANA time zone the expression is read in.")
    var tz = "UTC"

    @Option(help: ArgumentHelp("Start after this instant (ISO 8601 with an offset, e.g. 2026-03-07T00:00:00Z); default now.", valueName: "time"))
    var from: String?

    @Option(name: .short, help: "How many fire times.")
    var n = 5

    @Flag(help: "Print JSON: a list of {local, utc, unix}.")
    var json = false

    struct Printed: Codable {
        var local: String
        var utc: String
        var unix: Int64
    }

    func run() async throws {
        guard (1...1000).contains(n) else { throw ValidationError("-n: \(n) is out of range (1...1000)") }
        try await reportingErrors {
            guard let zone = TimeZones.named(tz) else {
                throw CommandFailure("--tz: '\(tz)' is not an IANA time zone (e.g. UTC, Asia/Kolkata, America/New_York)")
            }
            let start = try from.map { try parseInstant($0, option: "--from") } ?? Date()
            let times: ScheduleTimes
            do {
                times = try ScheduleTimes(parsing: [expression], timeZone: zone) { _ in "expression" }
            } catch {
                throw CommandFailure("\(error)")
            }
            let printed = times.next(n, after: start).map {
                Printed(local: Slot.iso8601($0, in: zone), utc: Slot.iso8601($0, in: .gmt), unix: Int64($0.timeIntervalSince1970))
            }
            print(json ? try encodeJSON(printed) : printed.map(\.local).joined(separator: "\n"))
        }
    }
}

/// `tm schedules backfill NAME --from T --to T`.
struct BackfillSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Fire every slot of a past interval [from, to], each exactly once (slots already fired or skipped are left alone).")

    @Argument(help: "The schedule, as named in Schedules/<name>.yaml.")
    var name: String

    @Option(help: ArgumentHelp("The first instant of the interval (ISO 8601 with an offset).", valueName: "time"))
    var from: String

    @Option(help: ArgumentHelp("The last instant of the interval, not in the future.", valueName: "time"))
    var to: String

    @Flag(help: "Print the counts as JSON.")
    var json = false

    static let slotLimit = 10_000

    struct Printed: Codable {
        var schedule: String
        var slots: Int
        var fired: Int
        var alreadyFired: Int

        enum CodingKeys: String, CodingKey {
            case schedule, slots, fired
            case alreadyFired = "already_fired"
        }
    }

    func run() async throws {
        try await reportingErrors {
            let (start, end) = (try parseInstant(from, option: "--from"), try parseInstant(to, option: "--to"))
            guard start <= end else { throw CommandFailure("--to: \(to) is before --from \(from)") }
            guard end <= Date() else { throw CommandFailure("--to: \(to) is in the future; backfill fires past slots only") }
            let system = try await ScheduleSystem.open(checking: name, clientName: "tm-schedules-backfill")
            defer { system.close() }
            let schedule = try system.schedules.schedule(name)
            // Inclusive of `from`: the engine's intervals are (after, through].
            let slots = schedule.times.times(after: start.addingTimeInterval(-1), through: end, limit: Self.slotLimit + 1)
            guard slots.count <= Self.slotLimit else {
                throw CommandFailure("--from/--to: the interval holds more than \(Self.slotLimit) slots; backfill it in parts")
            }
            var printed = Printed(schedule: name, slots: slots.count, fired: 0, alreadyFired: 0)
            let identity = system.operatorIdentity
            for slot in slots {
                switch try await system.firer.fire(schedule, at: slot, trigger: .backfill, by: { .cli(identity) }) {
                case .fired, .completed: printed.fired += 1
                case .firedByAnother, .alreadyHandled, .unconfirmed: printed.alreadyFired += 1
                }
            }
            await system.pool.shutdown()
            print(json ? try encodeJSON(printed)
                  : "backfill \(name): \(slots.count) slots in [\(from), \(to)]: \(printed.fired) fired, \(printed.alreadyFired) already fired or skipped")
        }
    }
}

// MARK: - Shared plumbing

/// What `tm schedules fire` did, as printed.
struct FiringOutcomeReport: Codable {
    var schedule: String
    var outcome: String
    var slot: String
    var messageID: String?
    var state: String?
    var trigger: String?

    enum CodingKeys: String, CodingKey {
        case schedule, outcome, slot, state, trigger
        case messageID = "message_id"
    }

    init(schedule slot: Slot, _ outcome: SlotFirer.Outcome) {
        (schedule, self.slot) = (slot.schedule, slot.utc)
        switch outcome {
        case .fired(let id): (self.outcome, messageID) = ("fired", id)
        case .completed(let id): (self.outcome, messageID) = ("fired", id)
        case .firedByAnother(let id): (self.outcome, messageID, state) = ("already-fired", id, "enqueued")
        case .alreadyHandled(let firing), .unconfirmed(let firing):
            self.outcome = "already-fired"
            (messageID, state, trigger) = (firing.messageID, firing.state.rawValue, firing.trigger.rawValue)
        }
    }

    var sentence: String {
        if outcome == "fired" { return "fired \(schedule) slot \(slot): message \(messageID ?? "?")" }
        var line = "already fired: \(schedule) slot \(slot) is \(state ?? "?")"
        if let trigger { line += " (\(trigger))" }
        if let messageID { line += ", message \(messageID)" }
        return line + "; nothing new was enqueued"
    }
}

/// Everything the schedule commands need: manifests, the target resolver, Redis and Postgres.
struct ScheduleSystem {
    let environment: TMEnvironment
    let schedules: ScheduleCatalog
    let resolver: any ScheduleTargetResolving
    let redis: RedisClient
    let pool: PostgresPool

    /// Loads the manifests and checks that `schedule` exists before connecting, so a bad file or
    /// name is answered even when the servers are down.
    static func open(checking schedule: String? = nil, clientName: String) async throws -> ScheduleSystem {
        let environment = TMEnvironment.current()
        let schedules = try ScheduleCatalog.load(environment: environment)
        if let schedule { _ = try schedules.schedule(schedule) }
        let queues = try QueueCatalog.load(environment: environment)
        let resolver = try targetResolver(environment: environment, queues: queues)
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: clientName)
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), options: .init(size: 2))
        return ScheduleSystem(environment: environment, schedules: schedules, resolver: resolver, redis: redis, pool: pool)
    }

    /// How schedule targets resolve: queues through Queues/, functions to their invocation queue
    /// (`fn:<name>`) when Functions/<name>/function.yaml exists.
    static func targetResolver(environment: TMEnvironment, queues: QueueCatalog) throws -> any ScheduleTargetResolving {
        let functions = try QueueSystem.loadCatalogs(environment).functions
        return FunctionTargetResolver(queues: QueueTargetResolver(catalog: queues)) { name in
            try functions.manifest(name).invocationQueue
        }
    }

    var firer: SlotFirer { SlotFirer(store: FiringStore(pool: pool), redis: redis, resolver: resolver) }

    var inspector: ScheduleInspector {
        ScheduleInspector(catalog: schedules, resolver: resolver, store: FiringStore(pool: pool),
                          registry: LeaderRegistry(redis: redis, resource: Self.leaderLock(environment)))
    }

    /// The leader lock: `TM_SCHEDULER_LOCK`, else `scheduler:leader` (tests give each run its own).
    static func leaderLock(_ environment: TMEnvironment) -> String {
        environment["TM_SCHEDULER_LOCK"] ?? "scheduler:leader"
    }

    /// Written into `schedule_firings.leader` for slots an operator fired.
    var operatorIdentity: String {
        let user = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown"
        return "tm@\(ProcessInfo.processInfo.hostName):\(getpid()) (\(user))"
    }

    func close() { redis.close() }
}

/// A failure already phrased for the operator.
private struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`; any error is printed as `error: ...` on stderr and exits 1.
private func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

private func parseDuration(_ text: String, option: String, atLeast minimum: Duration) throws -> Duration {
    let value: Duration
    do { value = try DurationText.parse(text) } catch { throw ValidationError("\(option): \(error)") }
    guard value >= minimum else { throw ValidationError("\(option): \(text) is below the minimum of \(DurationText.format(minimum))") }
    return value
}

/// An ISO 8601 instant with an offset (`Z` or `±HH:MM`), optionally with fractional seconds.
private func parseInstant(_ text: String, option: String) throws -> Date {
    for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = options
        if let date = formatter.date(from: text) { return date }
    }
    throw CommandFailure("\(option): '\(text)' is not an ISO 8601 instant with an offset (e.g. 2026-03-07T00:00:00Z or 2026-03-07T05:30:00+05:30)")
}

private func encodeJSON<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
