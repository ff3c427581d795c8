import Foundation
import TMCore
import TMLocks
import TMPostgres
import TMQueue
import TMRedis

/// Starts analytics runs: under the run lock, finds or creates the run (`AnalyticsRunStore.begin`)
/// and fans its chunks out on the `analytics` queue, one message per chunk keyed by run and chunk.
///
/// Guarantees: one run per nightly slot, however often or wherever the slot fires (the slot's
/// run is looked up under the lock, and `slot_key` is unique); two starts never both see "nothing
/// running" (the lock serializes them, and the run's rows are written fenced by the lock's token,
/// so a starter paused past its lease writes nothing); the fan-out is repeatable — a start that
/// finds its slot's run still going enqueues its pending chunks again, which their keys turn into
/// no-ops while the first messages live, so a start that crashed halfway is completed by its retry.
public struct AnalyticsRunStarter: Sendable {
    /// The lock every start takes (`tm:{lock:analytics-run}:…`).
    public static let lockResource = "analytics-run"

    public let pool: PostgresPool
    public let redis: RedisClient
    public let producer: QueueProducer
    public let settings: AnalyticsRunSettings

    public init(pool: PostgresPool, redis: RedisClient, producer: QueueProducer, settings: AnalyticsRunSettings = AnalyticsRunSettings()) {
        self.pool = pool
        self.redis = redis
        self.producer = producer
        self.settings = settings
    }

    /// Starts (or finds) the run `request` asks for and makes sure its pending chunks are queued.
    public func start(_ request: AnalyticsRunRequest) async throws -> AnalyticsRunStore.Begin {
        let settings = settings
        let pool = pool
        return try await DistributedLock(redis: redis).withLock(Self.lockResource, ttl: settings.lockTTL, waitUpTo: settings.lockWait) { lease in
            let begun = try await pool.transaction(fencedBy: lease) { db in
                try AnalyticsRunStore.begin(db, request, chunkUsers: settings.chunkUsers, stallAfter: settings.stallAfter)
            }
            switch begun {
            case .started(let run), .existing(let run):
                if run.state == .running { try await fanOut(run.id) }
            case .skipped: break
            }
            return begun
        }
    }

    /// Enqueues one message per chunk that still has pending users; returns how many were new.
    @discardableResult
    public func fanOut(_ run: UUID) async throws -> Int {
        let chunks = try await pool.withConnection { try AnalyticsRunStore.pendingChunks($0, run: run) }
        var added = 0
        for start in stride(from: 0, to: chunks.count, by: 500) {
            let messages = try chunks[start..<min(start + 500, chunks.count)].map { chunk in
                let message = AnalyticsChunkMessage(runID: run, chunk: chunk)
                return try OutgoingMessage(json: message, key: message.key)
            }
            for result in try await producer.enqueueBatch(settings.queue, messages) where !(try result.get().duplicate) { added += 1 }
        }
        return added
    }
}

/// How runs are cut and paced. From the function's environment (its manifest's `environment:`),
/// each with a default: `ANALYTICS_RUN_QUEUE` (analytics), `ANALYTICS_RUN_CHUNK_USERS` (500 users
/// per queue message), `ANALYTICS_RUN_BATCH_USERS` (50 users per recomputation, progress recorded
/// after each), `ANALYTICS_RUN_STALL_AFTER` (1h without progress: a running run is failed by the next start).
public struct AnalyticsRunSettings: Sendable, Hashable {
    public var queue = "analytics"
    public var chunkUsers = 500
    public var batchUsers = 50
    public var stallAfter: Duration = .seconds(3600)
    public var lockTTL: Duration = .seconds(30)
    public var lockWait: Duration = .seconds(60)

    public init() {}

    /// The settings from the environment; a bad value is refused naming the variable and the reason.
    public static func fromEnvironment(_ environment: [String: String]) throws -> AnalyticsRunSettings {
        var settings = AnalyticsRunSettings()
        if let queue = environment["ANALYTICS_RUN_QUEUE"], !queue.isEmpty { settings.queue = queue }
        func count(_ name: String) throws -> Int? {
            guard let text = environment[name] else { return nil }
            guard let value = Int(text), value > 0 else { throw AnalyticsRunSettingsError(variable: name, reason: "'\(text)' is not a positive whole number") }
            return value
        }
        if let value = try count("ANALYTICS_RUN_CHUNK_USERS") { settings.chunkUsers = value }
        if let value = try count("ANALYTICS_RUN_BATCH_USERS") { settings.batchUsers = value }
        if let text = environment["ANALYTICS_RUN_STALL_AFTER"] {
            guard let value = try? DurationText.parse(text), value > .zero else {
                throw AnalyticsRunSettingsError(variable: "ANALYTICS_RUN_STALL_AFTER", reason: "'\(text)' is not a duration like 45m")
            }
            settings.stallAfter = value
        }
        return settings
    }
}

public struct AnalyticsRunSettingsError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let reason: String
    public var description: String { "\(variable): \(reason)" }
}
