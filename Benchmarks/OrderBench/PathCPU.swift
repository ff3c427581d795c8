import BenchSupport
import Foundation
import TMRedis

/// CPU seconds of every process on the order path, sampled before and after a run (`ProcessCPU`):
/// this bench (intake, worker and their threads), its broker-sim child, the Postgres backends of the
/// bench's database (the intake's own connection apart) and redis-server.
struct PathCPU {
    var bench = 0.0, brokerSim = 0.0, postgres = 0.0, intakePostgres = 0.0, redis = 0.0
    /// Of `bench`: the load generator's threads — the open loop's sender and the intakes' Redis
    /// threads — which production runs in the API's process, not the worker's.
    var generator = 0.0

    /// `intakeBackends`: the pids of the intake connections' backends (counted apart from the worker's).
    static func now(redis: RedisClient, database: String, intakeBackends: Set<Int32>) async -> PathCPU {
        let me = getpid()
        let totals = ProcessCPU.sample { pid, parent, commandLine in
            if pid == me { return "bench" }
            if parent == me { return "broker-sim" }
            if ProcessCPU.isPostgresBackend(commandLine, database: database) { return intakeBackends.contains(pid) ? "intake-postgres" : "postgres" }
            return nil
        }
        let info = (try? await redis.send("INFO", "cpu").string) ?? ""
        return PathCPU(bench: totals["bench"] ?? 0, brokerSim: totals["broker-sim"] ?? 0, postgres: totals["postgres"] ?? 0,
                       intakePostgres: totals["intake-postgres"] ?? 0, redis: ProcessCPU.redisSeconds(info: info),
                       generator: ThreadCounts.ofThisProcess().cpuSeconds(of: [SenderThread.name, "intake"]))
    }

    static func - (later: PathCPU, earlier: PathCPU) -> PathCPU {
        PathCPU(bench: later.bench - earlier.bench, brokerSim: later.brokerSim - earlier.brokerSim, postgres: later.postgres - earlier.postgres,
                intakePostgres: later.intakePostgres - earlier.intakePostgres, redis: later.redis - earlier.redis,
                generator: later.generator - earlier.generator)
    }

    var total: Double { bench + brokerSim + postgres + intakePostgres + redis }

    /// Microseconds of CPU per order per process, and what the machine's cores could carry at that cost.
    func perOrder(_ orders: Int) -> String {
        let scale = 1e6 / Double(max(orders, 1))
        let cores = Double(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        var parts = [String(format: "bench %.0f", bench * scale), String(format: "broker-sim %.0f", brokerSim * scale),
                     String(format: "Postgres %.0f", postgres * scale), String(format: "redis-server %.0f", redis * scale)]
        if intakePostgres > 0 { parts.append(String(format: "intake's Postgres %.0f", intakePostgres * scale)) }
        if generator > 0 { parts.append(String(format: "of the bench's, the load generator's threads %.0f", generator * scale)) }
        return String(format: "CPU per order µs: %@; total %.0f (%d cores carry %.0f orders/s at that cost)",
                      parts.joined(separator: ", "), total * scale, Int(cores), cores / max(total / Double(max(orders, 1)), 1e-9))
    }
}
