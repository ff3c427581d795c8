import Foundation
import Testing
import TestSupport
import TMCore
import TMNotify
import TMQueue
import TMRedis

/// The whole path an urgent notification takes — the producer's row and announcement, the queue,
/// `tm dispatch` running the warm `notifier` executable, a signed webhook to a local receiver —
/// with the latency from the row's `created_at` to the delivery's `sent_at` printed (a measured
/// figure, never asserted on: the test asserts only that every one is delivered once).
@Suite(.serialized) struct NotifierLatencyTests {
    @Test func urgentNotificationsThroughTheDispatcherAndTheWarmNotifier() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader", secret: NotifierHarness.webhookSecret)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("notify-latency"))
        defer { try? FileManager.default.removeItem(at: root) }
        let queue = "notifications-" + TestServers.uniqueName("lat").lowercased().replacingOccurrences(of: "_", with: "-")
        for folder in ["Queues", "Functions/notifier", "Schedules"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let manifest = try String(contentsOf: TestServers.repositoryRoot.appendingPathComponent("Queues/notifications.yaml"), encoding: .utf8)
        try manifest.replacingOccurrences(of: "\nname: notifications\n", with: "\nname: \(queue)\n")
            .write(to: root.appendingPathComponent("Queues/\(queue).yaml"), atomically: true, encoding: .utf8)
        let function = try String(contentsOf: TestServers.repositoryRoot.appendingPathComponent("Functions/notifier/function.yaml"), encoding: .utf8)
        try function.replacingOccurrences(of: "  queue: notifications\n", with: "  queue: \(queue)\n")
            .write(to: root.appendingPathComponent("Functions/notifier/function.yaml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        environment["TM_QUEUES_DIR"] = root.appendingPathComponent("Queues").path
        environment["TM_FUNCTIONS_DIR"] = root.appendingPathComponent("Functions").path
        environment["TM_SCHEDULES_DIR"] = root.appendingPathComponent("Schedules").path
        environment["TM_CONFIG_DIR"] = root.path
        environment["TM_SECRET_KEY"] = h.keyring.current.exportBase64()
        environment["TM_NOTIFY_ALLOW_PRIVATE_TARGETS"] = "1"
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog.load(directory: root.appendingPathComponent("Queues")))
        let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
        let dispatcher = try ChildProcess(tm, ["dispatch"], environment: environment, logFile: root.appendingPathComponent("dispatch.log").path)
        defer { dispatcher.terminate(grace: .seconds(10)) }

        func announce(_ id: UUID) async throws { try await producer.enqueue(queue, try NotificationOutbox.message(for: id)) }
        // The first one starts the warm process (a cold start, not counted).
        let warmUp = try h.notify(channels: [.webhook], priority: .urgent)
        try await announce(warmUp)
        try await eventually("the warm-up notification delivered", within: .seconds(120)) { try h.status(warmUp) == "sent" }

        var ids: [UUID] = []
        for _ in 0..<30 {
            let id = try h.notify(channels: [.inApp, .webhook], priority: .urgent)
            try await announce(id)
            ids.append(id)
            try await Task.sleep(for: .milliseconds(20))
        }
        try await eventually("every urgent notification delivered", within: .seconds(120)) {
            try ids.allSatisfy { try h.status($0) == "sent" }
        }
        #expect(h.webhook.accepted.count == ids.count + 1, "each delivered once")
        let latencies: [Double] = try h.db.query("""
            SELECT extract(epoch FROM d.sent_at - n.created_at) * 1000 AS ms FROM notifications n
            JOIN notification_deliveries d ON d.notification_id = n.id AND d.channel = 'webhook'
            WHERE n.id = ANY(string_to_array(\(ids.map { $0.uuidString.lowercased() }.joined(separator: ",")), ',')::uuid[]) ORDER BY ms
            """).rows.map { try $0.decode("ms", as: Double.self) }
        let p50 = latencies[latencies.count / 2], p95 = latencies[Int(Double(latencies.count - 1) * 0.95)], worst = latencies.last ?? 0
        print(String(format: "urgent notification latency (row created → webhook sent, %d notifications, warm notifier): p50 %.1f ms, p95 %.1f ms, max %.1f ms",
                     latencies.count, p50, p95, worst))
        _ = try? await redis.send("DEL", QueueKeys(queue: queue, shard: 0).stream)
    }
}
