import Foundation
import TestSupport
import TMQueue
import TMPostgres

/// A `queue-test-worker` process: a real consumer in a process of its own, so tests can SIGKILL it.
final class WorkerProcess: @unchecked Sendable {
    let child: ChildProcess
    let name: String

    init(queue: String, redisURL: String, databaseURL: String, name: String, extra: [String] = []) throws {
        self.name = name
        child = try ChildProcess(
            TestServers.productsDirectory.appendingPathComponent("queue-test-worker").path,
            ["--queue", queue, "--redis", redisURL, "--database", databaseURL, "--consumer", name] + extra,
            captureOutput: true)
        // The test's clock starts when the consumer does.
        try child.waitForOutput("ready")
    }

    /// SIGKILL: no chance to finish, ack or clean up — what a crash or an OOM kill looks like.
    func kill() { child.kill() }

    /// SIGTERM: a graceful stop.
    func terminate() { child.terminate() }

    /// SIGTERM, waits for the graceful exit and returns the consumer's counters it printed last
    /// ("counters handled=N stale=N ..."), so a test can tell what its settle scripts answered.
    func stop() throws -> [String: Int] {
        child.signal(SIGTERM)
        _ = try child.wait(timeout: .seconds(30))
        let text = String(decoding: child.output?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("counters ") }) else { return [:] }
        var counters: [String: Int] = [:]
        for pair in line.dropFirst("counters ".count).split(separator: " ") {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = Int(parts[1]) { counters[String(parts[0])] = value }
        }
        return counters
    }
}

/// The tables `queue-test-worker` writes, in a migrated database of their own (migration 0001 has the
/// `lock_fences` table and `tm_advance_fence` that its epoch-guarded writes use). No table has a
/// unique key on the message: a duplicated effect shows as a second row.
func makeEffectsDatabase() throws -> TestDatabase {
    let database = try TestDatabase(migrated: true, prefix: "tm_q")
    let db = try database.connect()
    defer { db.close() }
    try db.simpleQuery("""
        CREATE TABLE test_attempts (message_id text NOT NULL, consumer text NOT NULL, deliveries int NOT NULL, attempt int NOT NULL,
                                    history int NOT NULL, epoch bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
        CREATE TABLE test_effects (seq bigint GENERATED ALWAYS AS IDENTITY, message_id text NOT NULL, consumer text NOT NULL, epoch bigint NOT NULL);
        CREATE INDEX test_effects_message ON test_effects (message_id);
        CREATE TABLE test_runs (message_id text NOT NULL, consumer text NOT NULL, epoch bigint NOT NULL,
                                outcome text NOT NULL CHECK (outcome IN ('landed', 'absorbed', 'refused')));
        """)
    return database
}

/// A test queue, a database with the worker's tables, and worker processes wired to both.
final class WorkerFixture: @unchecked Sendable {
    let queue: TestQueue
    let database: TestDatabase
    let db: PostgresConnection
    let redisURL: String

    init(_ configure: (inout QueueManifest) -> Void) async throws {
        queue = try await TestQueue(configure)
        database = try makeEffectsDatabase()
        db = try database.connect()
        redisURL = try TestServers.redisURL
    }

    /// Starts a `queue-test-worker` on this queue and database, and waits until it consumes.
    func worker(_ name: String, _ extra: [String] = []) throws -> WorkerProcess {
        try WorkerProcess(queue: queue.name, redisURL: redisURL, databaseURL: database.url, name: name, extra: extra)
    }

    /// A file that holds a `--hold-file` worker's handlers until the test deletes it.
    func holdFile(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(queue.name)-hold-\(name)").path
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw POSIXError(.EIO) }
        return path
    }

    /// `SELECT count(*)::int AS n ...` as a number.
    func count(_ sql: PostgresQuery) throws -> Int { try db.query(sql).rows[0].decode("n", as: Int.self) }

    func cleanUp() async {
        db.close()
        await queue.cleanUp()
    }
}
