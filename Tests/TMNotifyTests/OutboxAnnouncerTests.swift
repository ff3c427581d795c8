import Foundation
import Testing
import TestSupport
import TMNotify
import TMQueue
import TMRedis

/// `OutboxAnnouncer` (the price evaluator's announcements, sent while it evaluates the next batch):
/// every id handed over reaches the queue once, also ids handed over after an earlier drain ended.
@Suite(.serialized) struct OutboxAnnouncerTests {
    /// Every string in a stream's entries (ids, field names and values).
    static func strings(_ value: RedisValue) -> [String] {
        if let values = value.array { return values.flatMap(strings) }
        return value.string.map { [$0] } ?? []
    }

    @Test func everyIdHandedOverIsAnnouncedOnceAlsoAfterAnEarlierDrainEnded() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let queue = "notifications-" + TestServers.uniqueName("ann").lowercased().replacingOccurrences(of: "_", with: "-")
        let stream = QueueKeys(queue: queue, shard: 0).stream
        defer { Task { _ = try? await redis.send("DEL", stream) } }
        let announcer = OutboxAnnouncer(producer: QueueProducer(redis: redis, catalog: try QueueCatalog([QueueManifest(name: queue)])), queue: queue)

        // Concurrent hand-overs (some while a round trip is under way), one of them repeated.
        let first = (0..<60).map { _ in UUID() }
        await withTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: first.count, by: 3) {
                group.addTask { announcer.announce(Array(first[chunk..<chunk + 3])) }
            }
            group.addTask { announcer.announce([first[0]]) }
        }
        await announcer.settled()
        // After the drain ended: a new hand-over starts a new one.
        let second = [UUID(), UUID()]
        announcer.announce(second)
        await announcer.settled()

        let entries = try await redis.send("XRANGE", stream, "-", "+")
        let texts = Self.strings(entries).joined(separator: "\n")
        #expect(entries.array?.count == first.count + second.count, "one message per notification, the repeat enqueued once")
        for id in first + second { #expect(texts.contains(id.uuidString.lowercased())) }
    }
}
