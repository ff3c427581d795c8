import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres
import TMQueue
import TMRedis
@testable import TMScheduler

/// A scheduler world of its own for one test: a migrated database, a folder of schedule and queue
/// manifests with unique names, a leader lock of its own, and `tm schedule run` processes or
/// in-process services over them. `cleanUp()` stops what it started and deletes its keys.
final class SchedulerFixture: @unchecked Sendable {
    let database: TestDatabase
    let directory: URL
    let lock: String
    let redis: RedisClient
    let pool: PostgresPool
    private(set) var schedules: [String] = []
    private(set) var queues: [String] = []
    private let processes = Locked<[ChildProcess]>([])

    init() async throws {
        database = try TestDatabase(migrated: true, prefix: "tm_sched")
        let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("scheduler-\(unique)")
        for folder in ["Schedules", "Queues", "Functions"] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        lock = "scheduler:test-\(unique)"
        redis = try await RedisClient(configuration: try RedisConfiguration(url: try TestServers.redisURL))
        pool = PostgresPool(configuration: database.configuration, options: .init(size: 2))
    }

    /// A unique name for a schedule or queue (`prefix-<random>`).
    static func name(_ prefix: String) -> String { "\(prefix)-\(UInt32.random(in: 0...UInt32.max))" }

    /// Writes `Queues/<name>.yaml`.
    @discardableResult
    func addQueue(_ name: String = SchedulerFixture.name("q"), settings: String = "") throws -> String {
        try "name: \(name)\n\(settings)\n".write(to: directory.appendingPathComponent("Queues/\(name).yaml"), atomically: true, encoding: .utf8)
        queues.append(name)
        return name
    }

    /// Writes `Schedules/<name>.yaml` targeting `queue`; `settings` are further manifest lines.
    @discardableResult
    func addSchedule(_ name: String = SchedulerFixture.name("s"), expression: String, queue: String, settings: String = "") throws -> String {
        let text = "name: \(name)\nexpression: \"\(expression)\"\ntarget: {queue: \(queue)}\n\(settings)\n"
        try text.write(to: directory.appendingPathComponent("Schedules/\(name).yaml"), atomically: true, encoding: .utf8)
        schedules.append(name)
        return name
    }

    /// The environment of a `tm` process in this world.
    func environment() throws -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = database.url
        environment["TM_SCHEDULES_DIR"] = directory.appendingPathComponent("Schedules").path
        environment["TM_QUEUES_DIR"] = directory.appendingPathComponent("Queues").path
        environment["TM_FUNCTIONS_DIR"] = directory.appendingPathComponent("Functions").path
        environment["TM_SCHEDULER_LOCK"] = lock
        return environment
    }

    static var tm: String { TestServers.productsDirectory.appendingPathComponent("tm").path }

    /// Starts `tm schedule run`; its JSON log goes to `scheduler-<n>.log` in the fixture's folder.
    func startScheduler(leaseTTL: String = "2s") throws -> ChildProcess {
        let index = processes.withLock { $0.count }
        let process = try ChildProcess(
            Self.tm, ["schedule", "run", "--lease-ttl", leaseTTL, "--tick", "200ms"], environment: try environment(),
            logFile: directory.appendingPathComponent("scheduler-\(index).log").path)
        processes.withLock { $0.append(process) }
        return process
    }

    /// Runs `tm` to completion.
    func tm(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runProcess(Self.tm, arguments, environment: try environment())
    }

    /// A scheduler service in this process (for tests that need no process boundary).
    func service(leaseTTL: Duration = .seconds(2)) throws -> SchedulerService {
        let catalog = try ScheduleCatalog.load(directory: directory.appendingPathComponent("Schedules"))
        let resolver = QueueTargetResolver(catalog: try QueueCatalog.load(directory: directory.appendingPathComponent("Queues")))
        return SchedulerService(catalog: catalog, resolver: resolver, redis: redis, pool: pool,
                                options: SchedulerOptions(resource: lock, leaseTTL: leaseTTL, tick: .milliseconds(200)))
    }

    var store: FiringStore { FiringStore(pool: pool) }

    /// Every row of `schedule`, in slot order.
    func firings(_ schedule: String) async throws -> [Firing] {
        try await pool.query("SELECT \(fragment: FiringStore.columns) FROM schedule_firings WHERE schedule = \(schedule) ORDER BY slot")
            .map(FiringStore.firing)
    }

    /// The `slot` of every message on `queue` (stream and delayed set), as enqueued.
    func enqueuedSlots(_ queue: String) async throws -> [String] {
        let keys = QueueKeys(queue: queue, shard: 0)
        var payloads: [[UInt8]] = []
        for entry in try await redis.send("XRANGE", keys.stream, "-", "+").array ?? [] {
            let fields = entry.array?[1].array ?? []
            for index in stride(from: 0, to: fields.count - 1, by: 2) where fields[index].string == "payload" {
                payloads.append(fields[index + 1].bytes ?? [])
            }
        }
        for member in try await redis.send("ZRANGE", keys.delayed, 0, -1).array ?? [] {
            let message = try JSONSerialization.jsonObject(with: Data(member.bytes ?? [])) as? [String: Any]
            payloads.append(Array(((message?["payload"] as? String) ?? "").utf8))
        }
        return try payloads.map { payload in
            let json = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
            return json?["slot"] as? String ?? "?"
        }
    }

    func leader() async throws -> LeaderIdentity? {
        try await LeaderRegistry(redis: redis, resource: lock).current()
    }

    /// What the schedulers logged, for failure messages.
    func logs() -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.filter { $0.hasSuffix(".log") }.sorted() ?? []
        return files.map { file in
            "== \(file)\n" + ((try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)) ?? "")
        }.joined(separator: "\n")
    }

    func cleanUp() async {
        for process in processes.current { process.kill() }
        for queue in queues {
            if let keys = try? await redis.send("KEYS", "tm:{\(queue).*").array, !keys.isEmpty {
                _ = try? await redis.send(RedisCommand("DEL", arguments: keys.compactMap(\.string)))
            }
        }
        _ = try? await redis.send("DEL", DistributedLock.ownerKey(lock), DistributedLock.fenceKey(lock), "tm:{lock:\(lock)}:leader")
        await pool.shutdown()
        redis.close()
        try? FileManager.default.removeItem(at: directory)
        database.drop()
    }
}

/// Runs `body` with a fresh fixture and always cleans it up.
func withScheduler(_ body: (SchedulerFixture) async throws -> Void) async throws {
    let world = try await SchedulerFixture()
    do {
        try await body(world)
    } catch {
        await world.cleanUp()
        throw error
    }
    await world.cleanUp()
}

/// Checks that `firings` cover consecutive slots `step` seconds apart, each once, all enqueued,
/// and that `queued` (the slots found on the queue) are exactly those slots, each once.
func expectEverySlotOnce(_ firings: [Firing], every step: Int, queued: [String], _ context: @autoclosure () -> String) {
    #expect(firings.allSatisfy { $0.state == .enqueued }, "not all enqueued: \(firings.filter { $0.state != .enqueued }) \(context())")
    let gaps = zip(firings, firings.dropFirst()).filter { Int($1.slot.timeIntervalSince($0.slot).rounded()) != step }
    #expect(gaps.isEmpty, "gaps or doubles between \(gaps.map { (Slot.iso8601($0.slot, in: .gmt), Slot.iso8601($1.slot, in: .gmt)) }) \(context())")
    let rows = firings.map { Slot.iso8601($0.slot, in: .gmt) }
    #expect(queued.sorted() == rows, "queue holds \(queued.sorted()), rows say \(rows) \(context())")
}
