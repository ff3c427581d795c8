// queue-test-worker: a consumer process for the tests that kill, pause, restart and soak consumers.
//
//   queue-test-worker --queue NAME --redis URL --database URL [--visibility-ms N] [--sleep-ms N]
//                     [--concurrency N] [--consumer NAME] [--shards N] [--grace-ms N]
//                     [--max-reclaims N] [--hold-file PATH] [--crash]
//
// Every execution of the handler is recorded in Postgres, and nothing in the records makes a
// duplicate impossible, so a test sees one if the queue or the fence lets it through:
// 1. Claim: one epoch-guarded transaction (`FencingGuard.advance` with the delivery's `MessageFence`,
//    what functions use) raises the message's fence to this delivery's epoch and records the
//    execution in `test_attempts`; from then on every write of an older delivery still running is
//    refused. (Refused here already: the execution is recorded all the same, as `refused`.)
// 2. Wait: `--sleep-ms`, then while the `--hold-file` exists (a test deletes it to let the handler
//    go on). `--crash`: the process SIGKILLs itself instead — a poison pill.
// 3. The effect: an epoch-guarded transaction that appends a row to `test_effects` (no unique key:
//    a second landed effect is a duplicate, and the soak reports it) — unless this message's effect
//    has landed already, which is a redelivery after a consumer died between its effect and its
//    ack: an idempotent handler absorbs it. That check is sound only because the fence's row lock
//    serializes the message's writers and refuses older ones.
// 4. `test_runs`: how the execution ended — `landed`, `absorbed` or `refused` (stale epoch).
// A refused execution returns normally, so its consumer tries to complete the message and is told
// `stale`. Prints "ready" once consuming and, when it stops (SIGTERM: graceful), its counters as
// "counters handled=N stale=N retried=N dead_lettered=N reclaimed=N".
import Dispatch
import Foundation
import TMCore
import TMLocks
import TMPostgres
import TMQueue
import TMRedis

func option(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

@main
enum QueueTestWorker {
    static func main() async throws {
        guard let queueName = option("--queue"), let redisURL = option("--redis"), let databaseURL = option("--database") else {
            FileHandle.standardError.write(Data("usage: queue-test-worker --queue NAME --redis URL --database URL\n".utf8))
            exit(2)
        }
        JSONLogHandler.bootstrap()
        var manifest = QueueManifest(name: queueName)
        manifest.visibilityTimeout = .milliseconds(Int64(option("--visibility-ms") ?? "2000")!)
        manifest.shards = Int(option("--shards") ?? "1")!
        manifest.backoff = .init(base: .milliseconds(20), cap: .milliseconds(200))
        // The soak kills consumers on purpose: a reclaim is not a poison pill there.
        manifest.maxReclaims = Int(option("--max-reclaims") ?? "50")!
        let sleep = Duration.milliseconds(Int64(option("--sleep-ms") ?? "0")!)
        let holdFile = option("--hold-file")
        let crash = CommandLine.arguments.contains("--crash")
        var options = QueueConsumer.Options()
        options.concurrency = Int(option("--concurrency") ?? "8")!
        options.consumerName = option("--consumer") ?? QueueConsumer.defaultConsumerName()
        options.blockTimeout = .milliseconds(200)
        options.reclaimInterval = .milliseconds(250)
        options.shutdownGrace = .milliseconds(Int64(option("--grace-ms") ?? "5000")!)
        let consumerName = options.consumerName

        let pool = PostgresPool(configuration: try PostgresConfiguration(url: databaseURL), size: options.concurrency!)
        let consumer = QueueConsumer(manifest: manifest, redis: try RedisConfiguration(url: redisURL), options: options) { delivery in
            let (id, epoch) = (delivery.id, delivery.epoch)
            let fence = MessageFence(queue: queueName, messageID: id, epoch: epoch)
            func refused() async throws -> String? {
                try await pool.execute("INSERT INTO test_runs (message_id, consumer, epoch, outcome) VALUES (\(id), \(consumerName), \(epoch), 'refused')")
                return nil
            }
            let attempt = """
                INSERT INTO test_attempts (message_id, consumer, deliveries, attempt, history, epoch)
                VALUES (\(id), \(consumerName), \(delivery.deliveries), \(delivery.attempt), \(delivery.history.count), \(epoch))
                """ as PostgresQuery
            do {
                try await pool.transaction { db in
                    try FencingGuard.advance(db, fence: fence)
                    try db.execute(attempt)
                }
            } catch LockError.staleFencingToken {
                try await pool.execute(attempt)
                return try await refused()
            }
            if crash { kill(getpid(), SIGKILL) }
            if sleep > .zero { try await Task.sleep(for: sleep) }
            while let holdFile, FileManager.default.fileExists(atPath: holdFile) { try await Task.sleep(for: .milliseconds(20)) }
            do {
                try await pool.transaction { db in
                    try FencingGuard.advance(db, fence: fence)
                    let landed = try db.query("SELECT count(*)::int AS n FROM test_effects WHERE message_id = \(id)").rows[0].decode("n", as: Int.self)
                    if landed == 0 {
                        try db.execute("INSERT INTO test_effects (message_id, consumer, epoch) VALUES (\(id), \(consumerName), \(epoch))")
                    }
                    let outcome = landed == 0 ? "landed" : "absorbed"
                    try db.execute("INSERT INTO test_runs (message_id, consumer, epoch, outcome) VALUES (\(id), \(consumerName), \(epoch), \(outcome))")
                }
            } catch LockError.staleFencingToken {
                return try await refused()
            }
            return nil
        }

        signal(SIGTERM, SIG_IGN)
        let termination = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        termination.setEventHandler { @Sendable in consumer.stop() }
        termination.resume()

        FileHandle.standardOutput.write(Data("ready\n".utf8))
        try await consumer.run()
        await pool.shutdown()
        let c = consumer.counters
        FileHandle.standardOutput.write(Data(
            "counters handled=\(c.handled) stale=\(c.stale) retried=\(c.retried) dead_lettered=\(c.deadLettered) reclaimed=\(c.reclaimed)\n".utf8))
    }
}
