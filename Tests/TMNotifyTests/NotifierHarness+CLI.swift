import Foundation
import TestSupport

extension NotifierHarness {
    /// Runs `tm` against the harness's database and the test Redis, with no env file and private
    /// targets not allowed unless `extra` says so.
    func runTM(_ arguments: [String], extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = database.url
        environment["TM_QUEUES_DIR"] = TestServers.repositoryRoot.appendingPathComponent("Queues").path
        environment.removeValue(forKey: "TM_NOTIFY_ALLOW_PRIVATE_TARGETS")
        for (name, value) in extra { environment[name] = value }
        return try await runProcess(TestServers.productsDirectory.appendingPathComponent("tm").path, arguments, environment: environment)
    }
}
