import Foundation
import Testing
import TestSupport
import TMAlerts
import TMQueue
import TMRedis

/// A firing's notification is announced on `notifications` after the batch (not before its row
/// committed): the message names the row's id.
@Suite(.serialized) struct PriceAnnounceTests {
    @Test func eachFiredNotificationIsAnnouncedAfterItsBatch() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let queue = "notifications-" + TestServers.uniqueName("pa").lowercased().replacingOccurrences(of: "_", with: "-")
        let stream = QueueKeys(queue: queue, shard: 0).stream
        defer { Task { _ = try? await h.redis.send("DEL", stream) } }
        let producer = QueueProducer(redis: h.redis, catalog: try QueueCatalog([QueueManifest(name: queue)]))
        let settings = PriceAlertEvaluator.Settings(fullReloadInterval: .seconds(3600), versionKey: h.versionKey, notificationsQueue: queue)
        let clock = h.clock
        let evaluator = PriceAlertEvaluator(pool: h.pool, redis: h.redis, producer: producer, settings: settings, clock: { clock.current })

        let symbol = h.symbol("ANN")
        let above = try h.alert(symbol, "above", "100")
        let below = try h.alert(symbol, "below", "50")
        try await evaluator.loadAll()
        let one = try await evaluator.evaluate([h.tick(symbol, "101")])
        let two = try await evaluator.evaluate([h.tick(symbol, "49")])
        #expect(one.fired == 1 && two.fired == 1)
        await evaluator.announced()

        let rows: [UUID] = try h.db.query("""
            SELECT id FROM notifications WHERE kind = 'price_alert' AND payload->>'alert_id' IN (\(above.uuidString.lowercased()), \(below.uuidString.lowercased()))
            """).rows.map { try $0.decode("id") }
        #expect(Set(rows) == Set(one.notifications + two.notifications) && rows.count == 2)
        let entries = try await h.redis.send("XRANGE", stream, "-", "+")
        let texts = (entries.array ?? []).flatMap { ($0.array?.last?.array ?? []).compactMap(\.string) }.joined(separator: "\n")
        #expect(entries.array?.count == 2)
        for id in rows { #expect(texts.contains(id.uuidString.lowercased())) }
    }
}
