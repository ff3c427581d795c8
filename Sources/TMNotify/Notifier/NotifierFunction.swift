import Foundation
import Logging
import TMCore
import TMCrypto
import TMFunctionRuntime
import TMHTTP
import TMPostgres
import TMQueue
import TMRedis

/// The outbox's other half: pending notifications whose `notifications` message was lost (Redis
/// down at the producer's commit, a crash between commit and enqueue) are announced again. The
/// message key is the same (`notification:<id>`), so a notification whose message exists — queued,
/// in its retry backoff, done — is not enqueued twice.
public struct NotificationSweep: Sendable {
    let pool: PostgresPool
    let producer: QueueProducer
    let queue: String
    let after: Duration

    public init(pool: PostgresPool, producer: QueueProducer, queue: String = NotificationOutbox.queue, after: Duration = .seconds(60)) {
        self.pool = pool
        self.producer = producer
        self.queue = queue
        self.after = after
    }

    /// Announces up to `limit` pending notifications older than `after` (and younger than a week);
    /// returns how many were newly enqueued.
    public func run(now: Date = Date(), limit: Int = 500) async throws -> Int {
        let cutoff = now.addingTimeInterval(-Double(after.milliseconds) / 1000)
        let ids: [UUID] = try await pool.query("""
            SELECT id FROM notifications WHERE status = 'pending' AND created_at <= \(cutoff)
              AND created_at > \(now.addingTimeInterval(-7 * 86400)) ORDER BY created_at LIMIT \(limit)
            """).rows.map { try $0.decode("id") }
        var enqueued = 0
        for id in ids where !(try await producer.enqueue(queue, try NotificationOutbox.message(for: id)).duplicate) { enqueued += 1 }
        return enqueued
    }
}

/// What the notifier function opens once per (warm) process.
public struct NotifierServices: Sendable {
    public let notifier: Notifier
    public let sweep: NotificationSweep

    public init(notifier: Notifier, sweep: NotificationSweep) {
        self.notifier = notifier
        self.sweep = sweep
    }

    /// From the function's environment: stores, queues, the secret keyring (webhook signing
    /// secrets, webhook and Slack URLs; absent: those deliveries are dead-lettered saying so), the
    /// providers and the contacts. Seals the URLs still stored in plain text.
    public static func open(environment: TMEnvironment = .current(), poolSize: Int = 4) async throws -> NotifierServices {
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "notifier")
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize)
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog.load(environment: environment))
        let keyring = environment[SecretKeyring.currentVariable] == nil ? nil : try SecretKeyring.fromEnvironment(environment)
        let settings = try NotifierSettings.fromEnvironment(environment)
        let http = try AsyncHTTPClient(configuration: .init(userAgent: "tm-notifier/1.0", timeout: settings.httpTimeout), lanes: 4, name: "notifier-http")
        let notifier = Notifier(pool: pool, producer: producer, keyring: keyring, senders: try settings.senders(http: http),
                                contacts: try EscalationContacts.standard(environment: environment), settings: settings)
        // Webhook and Slack URLs stored in plain text before they were sealed: sealed now, all at
        // once (a row another notifier holds is sealed by it, or on its first delivery).
        if let keyring { _ = try await pool.withConnection { db in try NotificationChannels.sealPlainAddresses(db, keyring: keyring) } }
        return NotifierServices(notifier: notifier, sweep: NotificationSweep(pool: pool, producer: producer, after: settings.sweepAfter))
    }
}

/// The `notifier` function: each record is a `notifications` message (`{"notification_id"}`), or
/// a schedule's firing (anything else: the sweep of pending notifications whose message was lost).
/// A record fails (retryably) only while one of its deliveries still has tries left.
public struct NotifierFunction: FunctionHandler {
    let services: NotifierServices
    public init(services: NotifierServices) { self.services = services }

    struct Message: Decodable { var notification_id: String? }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        await RecordHandler(concurrency: min(4, max(1, request.records.count))) { record, context in
            guard let text = try record.decode(Message.self).notification_id else {
                return "sweep: announced \(try await services.sweep.run()) lost notification(s) again"
            }
            guard let id = UUID(uuidString: text) else { throw RecordRejected("notification_id: '\(text)' is not a UUID") }
            return try await services.notifier.deliver(id, logger: context.logger).description
        }.handle(request, context: context)
    }
}
