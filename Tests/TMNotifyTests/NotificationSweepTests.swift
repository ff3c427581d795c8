import Foundation
import Testing
import TestSupport
import TMCore
import TMNotify
import TMQueue
import TMRedis

/// The outbox's guarantee: a pending notification whose message was lost is announced again, once.
@Suite(.serialized) struct NotificationSweepTests {
    @Test func theSweepAnnouncesOnlyPendingNotificationsWhoseMessageWasLost() async throws {
        let h = try NotifierHarness()
        let name = "notifications-" + TestServers.uniqueName("sweep").lowercased().replacingOccurrences(of: "_", with: "-")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let real = try String(contentsOf: TestServers.repositoryRoot.appendingPathComponent("Queues/notifications.yaml"), encoding: .utf8)
        try real.replacingOccurrences(of: "\nname: notifications\n", with: "\nname: \(name)\n")
            .write(to: directory.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        let catalog = try QueueCatalog.load(directory: directory)
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let producer = QueueProducer(redis: redis, catalog: catalog)

        let lost = try h.notify(channels: [.inApp])
        let announced = try h.notify(channels: [.inApp])
        try await producer.enqueue(name, try NotificationOutbox.message(for: announced))
        let delivered = try h.notify(channels: [.inApp])
        try await h.notifier().deliver(delivered)

        let sweep = NotificationSweep(pool: h.pool, producer: producer, queue: name, after: .seconds(60))
        #expect(try await sweep.run(now: Date()) == 0, "younger than a minute: its message may still be on its way")
        let later = Date().addingTimeInterval(120)
        #expect(try await sweep.run(now: later) == 1, "only the lost one: the announced one's key is taken, the delivered one is not pending")
        #expect(try await sweep.run(now: later) == 0, "announced once")
        var length = 0
        for shard in 0..<(try catalog.manifest(name).shards) {
            length += try await redis.send("XLEN", QueueKeys(queue: name, shard: shard).stream).int.map(Int.init) ?? 0
            let keys = (try? await redis.send("KEYS", "tm:{\(name).\(shard)}:*").array)?.compactMap(\.string) ?? []
            if !keys.isEmpty { _ = try? await redis.send(RedisCommand("DEL", arguments: keys)) }
        }
        #expect(length == 2)
        _ = lost
    }
}
