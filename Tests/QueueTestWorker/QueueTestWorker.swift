// queue-test-worker: a consumer process for the tests that kill, restart and soak consumers.
//
//   queue-test-worker --queue NAME --redis URL --database URL [--visibility-ms N] [--sleep-ms N]
//                     [--concurrency N] [--consumer NAME] [--shards N] [--grace-ms N]
//
// Every delivery is recorded in Postgres: a row in `test_attempts` when the handler starts, then
// the message's effect in `test_effects` (primary key: message id) in one transaction with a
// `test_runs` row, so a test can count lost messages (no effect), duplicated effects (impossible by
// the key, but counted as absorbed re-executions) and redeliveries. Prints "ready" once consuming.
// SIGTERM stops it gracefully.
import Dispatch
import Foundation
import TMCore
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
        manifest.maxReclaims = 50  // the soak kills consumers on purpose: a reclaim is not a poison pill here
        let sleep = Duration.milliseconds(Int64(option("--sleep-ms") ?? "0")!)
        var options = QueueConsumer.Options()
        options.concurrency = Int(option("--concurrency") ?? "8")!
        options.consumerName = option("--consumer") ?? QueueConsumer.defaultConsumerName()
        options.blockTimeout = .milliseconds(200)
        options.reclaimInterval = .milliseconds(250)
        options.shutdownGrace = .milliseconds(Int64(option("--grace-ms") ?? "5000")!)
        let consumerName = options.consumerName

        let pool = PostgresPool(configuration: try PostgresConfiguration(url: databaseURL), size: options.concurrency!)
        let consumer = QueueConsumer(manifest: manifest, redis: try RedisConfiguration(url: redisURL), options: options) { delivery in
            try await pool.execute("""
                INSERT INTO test_attempts (message_id, consumer, deliveries, epoch) VALUES (\(delivery.id), \(consumerName), \(delivery.deliveries), \(delivery.epoch))
                """)
            if sleep > .zero { try await Task.sleep(for: sleep) }
            try await pool.transaction { db in
                let inserted = try db.execute("""
                    INSERT INTO test_effects (message_id, consumer, epoch) VALUES (\(delivery.id), \(consumerName), \(delivery.epoch))
                    ON CONFLICT (message_id) DO NOTHING
                    """)
                try db.execute("INSERT INTO test_runs (message_id, consumer, applied) VALUES (\(delivery.id), \(consumerName), \(inserted == 1))")
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
    }
}
