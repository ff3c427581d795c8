import Foundation
import Testing
import TestSupport

/// The `tm` executable as an operator runs it.
@Suite struct CLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func run(_ arguments: [String], _ overrides: [String: String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        for (key, value) in overrides { environment[key] = value }
        return try await runProcess(tm, arguments, environment: environment)
    }

    @Test func doctorIsGreenOnAMigratedSystemAndNamesARemedyOtherwise() async throws {
        let database = try TestDatabase()
        let environment = [
            "TM_REDIS_URL": try TestServers.redisURL,
            "TM_DATABASE_URL": database.url,
            "TM_SECRET_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
        ]
        let before = try await run(["doctor"], environment)
        #expect(before.status == 1)
        #expect(before.output.contains("✘ migrations"))
        #expect(before.output.contains("run `tm migrate`"))

        await #expect(try run(["migrate"], environment).status == 0)
        let after = try await run(["doctor"], environment)
        #expect(after.status == 0, "\(after.output)")
        for check in ["config", "redis", "postgres", "migrations", "secret key"] {
            #expect(after.output.contains("✔ \(check)"), "\(check) not green: \(after.output)")
        }

        var broken = environment
        broken["TM_REDIS_URL"] = "redis://127.0.0.1:\(try freeLoopbackPort())/0"
        broken["TM_SECRET_KEY"] = "dG9vIHNob3J0"
        let failing = try await run(["doctor", "--json"], broken)
        #expect(failing.status == 1)
        struct Check: Decodable { var name: String; var ok: Bool; var remedy: String? }
        let checks = try JSONDecoder().decode([Check].self, from: Data(failing.output.utf8))
        let byName = Dictionary(uniqueKeysWithValues: checks.map { ($0.name, $0) })
        #expect(byName["redis"]?.ok == false)
        #expect(byName["redis"]?.remedy?.contains("TM_REDIS_URL") == true)
        #expect(byName["secret key"]?.ok == false)
        #expect(byName["secret key"]?.remedy?.contains("32 random bytes") == true)
        #expect(byName["postgres"]?.ok == true)
    }

    /// A queue nobody reads is a warning: shown with its remedy, exit 0, exit 1 with --strict.
    @Test func doctorWarnsAboutAQueueNobodyReads() async throws {
        let database = try TestDatabase(migrated: true)
        let scratch = try ScratchQueue()
        defer { scratch.cleanUp() }
        let environment = [
            "TM_REDIS_URL": try TestServers.redisURL,
            "TM_DATABASE_URL": database.url,
            "TM_SECRET_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
            "TM_QUEUES_DIR": scratch.directory.path,
            "TM_FUNCTIONS_DIR": scratch.directory.path,
        ]
        let calm = try await run(["doctor"], environment)
        #expect(calm.status == 0 && calm.output.contains("✔ queues") && calm.output.contains("✔ outbox"), "\(calm.output)")

        #expect(try await run(["enqueue", scratch.name, "--json", "{}"], environment).status == 0)
        let warned = try await run(["doctor"], environment)
        #expect(warned.status == 0, "a warning is not a failure: \(warned.output)")
        #expect(warned.output.contains("⚠ queues") && warned.output.contains("\(scratch.name) no-consumer"), "\(warned.output)")
        #expect(try await run(["doctor", "--strict"], environment).status == 1)
    }

    @Test func versionNamesTheCLibraries() async throws {
        let result = try await run(["version"], [:])
        #expect(result.status == 0)
        for library in ["hiredis", "libpq", "libcurl", "libcrypto"] {
            #expect(result.output.contains(library))
        }
    }
}
