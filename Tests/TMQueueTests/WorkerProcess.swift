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
}

/// The tables `queue-test-worker` writes, in a database of their own.
func makeEffectsDatabase() throws -> TestDatabase {
    let database = try TestDatabase(prefix: "tm_q")
    let db = try database.connect()
    defer { db.close() }
    try db.simpleQuery("""
        CREATE TABLE test_attempts (message_id text NOT NULL, consumer text NOT NULL, deliveries int NOT NULL, epoch bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
        CREATE TABLE test_effects (message_id text PRIMARY KEY, consumer text NOT NULL, epoch bigint NOT NULL);
        CREATE TABLE test_runs (message_id text NOT NULL, consumer text NOT NULL, applied boolean NOT NULL);
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

    /// `SELECT count(*)::int AS n ...` as a number.
    func count(_ sql: PostgresQuery) throws -> Int { try db.query(sql).rows[0].decode("n", as: Int.self) }

    func cleanUp() async {
        db.close()
        await queue.cleanUp()
    }
}
