import ArgumentParser
import Foundation
import TMCore
import TMCrypto
import TMDatabase
import TMPostgres
import TMQueue
import TMRedis

/// `tm doctor`: checks what the system needs and says how to fix each failure.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check Redis, Postgres, migrations and the secret key, with a remedy for each failure; warn about queues nobody drains.",
        discussion: """
            A failed check (✘) exits 1. A warning (⚠) — a queue that fills with nobody draining it, trade
            events waiting in the sync's outbox, or outbox rows the relay could not read (quarantined) — is
            printed with its remedy but exits 0 unless --strict.
            """)

    @Flag(help: "Print the checks as JSON.")
    var json = false

    @Flag(help: "Exit 1 on warnings too.")
    var strict = false

    struct Check: Codable {
        var name: String
        var ok: Bool
        var detail: String
        var remedy: String?
        /// Passed, but something needs an operator's look (`ok` stays true).
        var warning = false
    }

    func run() async throws {
        let environment = TMEnvironment.current()
        var checks: [Check] = []
        checks.append(configurationCheck(environment))
        checks.append(redisCheck(environment))
        checks.append(contentsOf: postgresChecks(environment))
        checks.append(secretKeyCheck(environment))
        if checks.allSatisfy(\.ok) {
            checks.append(await queuesCheck(environment))
            checks.append(outboxCheck(environment))
        }

        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(checks), as: UTF8.self))
        } else {
            for check in checks {
                print("\(!check.ok ? "✘" : check.warning ? "⚠" : "✔") \(check.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \(check.detail)")
                if let remedy = check.remedy, !check.ok || check.warning { print("  → \(remedy)") }
            }
        }
        if checks.contains(where: { !$0.ok || (strict && $0.warning) }) { throw ExitCode(1) }
    }

    /// Every queue against `QueueAlert`: messages waiting with no consumer, a backlog not draining, nearly full.
    private func queuesCheck(_ environment: TMEnvironment) async -> Check {
        do {
            let system = try await QueueSystem.open(clientName: "tm-doctor")
            defer { system.close() }
            let statuses = try await QueueInspector(redis: system.redis, catalog: system.catalog).status()
            let flagged = statuses.filter { !$0.alerts.isEmpty }
            guard !flagged.isEmpty else {
                return Check(name: "queues", ok: true, detail: "\(statuses.count) queues; none filling without a consumer")
            }
            let detail = flagged.flatMap { status in status.alerts.map { "\(status.queue) \($0)" } }.joined(separator: "; ")
            return Check(name: "queues", ok: true, detail: detail,
                         remedy: "start what consumes these queues (`tm dispatch` runs the functions subscribed to them; `tm queues` shows consumers), or pause what produces them",
                         warning: true)
        } catch {
            return Check(name: "queues", ok: true, detail: "not checked: \(error)", remedy: "run `tm queues` and read its error", warning: true)
        }
    }

    /// The trade-events outbox: events waiting longer than `TradeEventOutbox.staleAfter`, dropped in the last day, or
    /// set aside as unreadable (quarantined).
    private func outboxCheck(_ environment: TMEnvironment) -> Check {
        switch QueueHealth.outbox(environment) {
        case .failure(let error):
            return Check(name: "outbox", ok: true, detail: "not checked: \(error)", remedy: "fix the postgres check first", warning: true)
        case .success(let status):
            if let alert = QueueHealth.outboxAlert(status) {
                let refused = "see why trade-events refuses (`tm queues --queue trade-events`: full, or no consumer); the outbox drains on every sync-trigger pass once it accepts"
                let quarantined = "`tm queues outbox` lists the rows the relay could not read; fix one (`tm queues outbox show ID`), then `tm queues outbox replay ID`, or `tm queues outbox drop ID`"
                return Check(name: "outbox", ok: true, detail: alert.message,
                             remedy: status.quarantined > 0 ? quarantined : refused, warning: true)
            }
            let age = status.oldestAgeSeconds.map { ", the oldest \(DurationText.format(.seconds($0)))" } ?? ""
            return Check(name: "outbox", ok: true, detail: "\(status.waiting) trade event(s) waiting\(age); none dropped in the last day, none quarantined")
        }
    }

    private func source(_ key: String, _ environment: TMEnvironment) -> String {
        switch environment.sources[key] {
        case .environment: return "from the environment"
        case .file(let path): return "from \(path)"
        case nil: return "default"
        }
    }

    private func configurationCheck(_ environment: TMEnvironment) -> Check {
        if let file = environment.envFile {
            return Check(name: "config", ok: true, detail: "env file \(file) (environment variables override it)")
        }
        let anySet = ["TM_REDIS_URL", "TM_DATABASE_URL", "TM_SECRET_KEY"].contains { environment[$0] != nil }
        return Check(
            name: "config", ok: anySet, detail: anySet ? "from the environment" : "no TM_* variables and no .tm/env file",
            remedy: "run `make up` from the checkout (it writes .tm/env), or export TM_REDIS_URL, TM_DATABASE_URL and TM_SECRET_KEY")
    }

    private func redisCheck(_ environment: TMEnvironment) -> Check {
        let remedy = "start the local servers with `make up` (or `scripts/tm-servers.sh up`), or point TM_REDIS_URL at a reachable Redis"
        do {
            var configuration = try RedisConfiguration.fromEnvironment(environment)
            configuration.reconnectWindow = .zero
            let redis = try RedisConnection(configuration: configuration)
            defer { redis.close() }
            let clock = ContinuousClock()
            let started = clock.now
            _ = try redis.send("PING")
            let rtt = clock.now - started
            let info = try redis.send("INFO", "server").string ?? ""
            let persistence = try redis.send("INFO", "persistence").string ?? ""
            let version = Self.infoField("redis_version", in: info) ?? "?"
            let aof = Self.infoField("aof_enabled", in: persistence) == "1"
            let detail = "Redis \(version) at \(configuration) (\(source("TM_REDIS_URL", environment))), PING \(Self.format(rtt)), AOF \(aof ? "on" : "off")"
            guard Self.versionAtLeast(version, 7, 0) else {
                return Check(name: "redis", ok: false, detail: detail, remedy: "Redis 7.0 or newer is needed (XAUTOCLAIM's reply, XINFO STREAM FULL); upgrade the server")
            }
            return Check(name: "redis", ok: true, detail: detail)
        } catch {
            return Check(name: "redis", ok: false, detail: "\(error)", remedy: remedy)
        }
    }

    private func postgresChecks(_ environment: TMEnvironment) -> [Check] {
        let configuration: PostgresConfiguration
        let connection: PostgresConnection
        do {
            configuration = try PostgresConfiguration.fromEnvironment(environment)
            connection = try PostgresConnection(configuration: configuration)
        } catch {
            return [
                Check(name: "postgres", ok: false, detail: "\(error)",
                      remedy: "start the local servers with `make up` (or `scripts/tm-servers.sh up`), or point TM_DATABASE_URL at a reachable PostgreSQL"),
                Check(name: "migrations", ok: false, detail: "not checked: PostgreSQL is unreachable", remedy: "fix the postgres check first"),
            ]
        }
        defer { connection.close() }
        var checks: [Check] = []
        let clock = ContinuousClock()
        let started = clock.now
        let ping = Result { try connection.query("SELECT 1 AS one") }
        let rtt = clock.now - started
        let version = connection.serverVersion
        let detail = "PostgreSQL \(version) at \(configuration) (\(source("TM_DATABASE_URL", environment))), SELECT 1 \(Self.format(rtt))"
        if case .failure(let error) = ping {
            checks.append(Check(name: "postgres", ok: false, detail: "\(error)", remedy: "check the server log and TM_DATABASE_URL"))
        } else if connection.serverVersionNumber < 130000 {
            checks.append(Check(name: "postgres", ok: false, detail: detail, remedy: "PostgreSQL 13 or newer is needed (gen_random_uuid); upgrade the server"))
        } else {
            checks.append(Check(name: "postgres", ok: true, detail: detail))
        }
        do {
            let migrator = Migrator(connection: connection, migrations: try MigrationCatalog.bundled())
            let applied = try migrator.appliedMigrations()
            let pending = try migrator.pendingMigrations()
            if pending.isEmpty {
                checks.append(Check(name: "migrations", ok: true, detail: "\(applied.count) applied, none pending"))
            } else {
                checks.append(Check(
                    name: "migrations", ok: false,
                    detail: "\(applied.count) applied, \(pending.count) pending (\(pending.map { String(format: "%04d", $0.version) + "_" + $0.name }.joined(separator: ", ")))",
                    remedy: "run `tm migrate`"))
            }
        } catch {
            checks.append(Check(name: "migrations", ok: false, detail: "\(error)", remedy: "run `tm migrate` and read its error"))
        }
        return checks
    }

    private func secretKeyCheck(_ environment: TMEnvironment) -> Check {
        let remedy = "set TM_SECRET_KEY to base64 of 32 random bytes, e.g. `export TM_SECRET_KEY=$(head -c 32 /dev/urandom | base64)`; keep it: it decrypts the stored broker credentials"
        guard environment["TM_SECRET_KEY"] != nil else {
            return Check(name: "secret key", ok: false, detail: "TM_SECRET_KEY is not set", remedy: remedy)
        }
        do {
            let keyring = try SecretKeyring.fromEnvironment(environment)
            // Prove the key works end to end, not just that it parses.
            let sealed = try keyring.seal("doctor")
            guard try keyring.openString(sealed) == "doctor" else {
                return Check(name: "secret key", ok: false, detail: "seal/open round trip failed", remedy: remedy)
            }
            return Check(
                name: "secret key", ok: true,
                detail: "key id \(keyring.current.id) (\(source("TM_SECRET_KEY", environment))), \(keyring.previous.count) previous key(s) for rotation")
        } catch {
            return Check(name: "secret key", ok: false, detail: "\(error)", remedy: remedy)
        }
    }

    static func infoField(_ name: String, in info: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    static func versionAtLeast(_ version: String, _ major: Int, _ minor: Int) -> Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return false }
        return (parts[0], parts[1]) >= (major, minor)
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.2f ms", duration.seconds * 1000)
    }
}
