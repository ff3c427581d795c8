import Foundation
import TMRedis

/// One consumer of a consumer group, as Redis last saw it.
///
/// Guarantees: `idleMs` is measured against the Redis server's clock (TIME in the same round trip),
/// so a skewed operator machine cannot make a live consumer look dead.
public struct ConsumerStatus: Codable, Sendable, Hashable {
    public var name: String
    /// Entries delivered to this consumer and not yet acknowledged.
    public var pending: Int
    /// Milliseconds since the consumer last read, claimed or heartbeated.
    public var idleMs: Int64

    public init(name: String, pending: Int, idleMs: Int64) {
        self.name = name
        self.pending = pending
        self.idleMs = idleMs
    }
}

/// The oldest (smallest id) entry of a group's pending list.
///
/// Guarantees: both ages are measured against the Redis server's clock.
public struct PendingEntryStatus: Codable, Sendable, Hashable {
    /// The stream entry id.
    public var streamID: String
    public var consumer: String
    /// Milliseconds since the entry was last delivered or heartbeated: past the visibility
    /// timeout it is reclaimable.
    public var idleMs: Int64
    /// Milliseconds since the entry was added to the stream (from its id).
    public var ageMs: Int64
    /// Times the entry was handed out (1, more after reclaims).
    public var deliveries: Int

    public init(streamID: String, consumer: String, idleMs: Int64, ageMs: Int64, deliveries: Int) {
        self.streamID = streamID
        self.consumer = consumer
        self.idleMs = idleMs
        self.ageMs = ageMs
        self.deliveries = deliveries
    }
}

/// One consumer group of a shard's stream.
///
/// Guarantees: the figures come from one `XINFO STREAM ... FULL` reply, so they are mutually consistent.
public struct GroupStatus: Codable, Sendable, Hashable {
    public var name: String
    /// Delivered, not yet acknowledged (the group's pending entries list).
    public var pending: Int
    /// Entries added but not yet delivered to this group (Redis 7+; nil on older servers or when
    /// Redis cannot compute it).
    public var lag: Int?
    public var lastDeliveredID: String
    public var oldestPending: PendingEntryStatus?
    public var consumers: [ConsumerStatus]

    public init(name: String, pending: Int, lag: Int?, lastDeliveredID: String, oldestPending: PendingEntryStatus?, consumers: [ConsumerStatus]) {
        self.name = name
        self.pending = pending
        self.lag = lag
        self.lastDeliveredID = lastDeliveredID
        self.oldestPending = oldestPending
        self.consumers = consumers
    }
}

/// The state of one queue shard at one instant.
///
/// Guarantees: gathered in a single pipelined round trip, so the numbers describe (nearly) the same
/// moment; a shard whose keys do not exist yet reports zeros, not an error; a command Redis refused
/// (e.g. a key of the wrong type) is listed in `errors` instead of hiding the other shards.
public struct ShardStatus: Codable, Sendable, Hashable {
    public var queue: String
    public var shard: Int
    /// Whether the shard's stream exists (it is created by the first enqueue or consumer).
    public var exists: Bool
    /// Stream length: ready plus in-flight messages (acked entries are deleted).
    public var length: Int
    /// Delivered and not yet acknowledged, summed over the stream's groups (normally just `workers`).
    public var pending: Int
    /// Ready but not yet delivered: the largest group lag (nil when Redis cannot say).
    public var undelivered: Int?
    /// The pending entry idle the longest among the groups' oldest entries.
    public var oldestPending: PendingEntryStatus?
    /// Messages waiting in the delayed set (retries with backoff and delayed enqueues).
    public var delayed: Int
    /// Milliseconds until the next delayed message is due (negative when overdue), nil when none.
    public var nextDueInMs: Int64?
    /// Dead letters waiting for an operator.
    public var deadLetters: Int
    /// Milliseconds since the oldest entry still in the stream (pending or ready) was added.
    public var oldestEntryAgeMs: Int64?
    public var groups: [GroupStatus]
    /// Replies Redis refused for this shard, with the command.
    public var errors: [String]

    public init(queue: String, shard: Int) {
        self.queue = queue
        self.shard = shard
        self.exists = false
        self.length = 0
        self.pending = 0
        self.undelivered = nil
        self.oldestPending = nil
        self.delayed = 0
        self.nextDueInMs = nil
        self.deadLetters = 0
        self.oldestEntryAgeMs = nil
        self.groups = []
        self.errors = []
    }

    /// Every consumer of every group, as (group, consumer).
    public var consumers: [(group: String, consumer: ConsumerStatus)] {
        groups.flatMap { group in group.consumers.map { (group.name, $0) } }
    }
}

/// One queue: its shards and their sums.
///
/// Guarantees: `shards` holds every shard the manifest declares, in order; `totals` is their sum
/// (ages and idle times: the worst shard's).
public struct QueueStatus: Codable, Sendable, Hashable {
    public struct Totals: Codable, Sendable, Hashable {
        public var length = 0
        public var pending = 0
        public var undelivered: Int?
        public var delayed = 0
        public var deadLetters = 0
        public var consumers = 0
        public var oldestPendingIdleMs: Int64?
        public var errors = 0
        public init() {}
    }

    public var queue: String
    /// When the figures were read, milliseconds since 1970 by the Redis server's clock.
    public var observedAtMs: Int64
    public var shards: [ShardStatus]
    public var totals: Totals
    /// What an operator must act on (`QueueAlert.evaluate`); set by `QueueInspector`.
    public var alerts: [QueueAlert] = []

    public init(queue: String, observedAtMs: Int64, shards: [ShardStatus]) {
        self.queue = queue
        self.observedAtMs = observedAtMs
        self.shards = shards
        var totals = Totals()
        for shard in shards {
            totals.length += shard.length
            totals.pending += shard.pending
            if let lag = shard.undelivered { totals.undelivered = (totals.undelivered ?? 0) + lag }
            totals.delayed += shard.delayed
            totals.deadLetters += shard.deadLetters
            totals.consumers += Set(shard.consumers.map(\.consumer.name)).count
            if let idle = shard.oldestPending?.idleMs { totals.oldestPendingIdleMs = max(totals.oldestPendingIdleMs ?? idle, idle) }
            totals.errors += shard.errors.count
        }
        self.totals = totals
    }
}

/// Reads the state of queues for operators (`tm queues`) and for tests: lengths, pending work,
/// delayed and dead messages, consumers and how long they have been quiet.
///
/// Guarantees: read-only (nothing is created, claimed or trimmed); one pipelined round trip per
/// call however many shards are inspected; missing streams and groups read as zeros; ages are
/// measured by the Redis server's clock.
public struct QueueInspector: Sendable {
    public let redis: RedisClient
    public let catalog: QueueCatalog

    public init(redis: RedisClient, catalog: QueueCatalog) {
        self.redis = redis
        self.catalog = catalog
    }

    /// Every queue of the catalog (or those named), in name order. An unknown name throws
    /// `QueueError.unknownQueue` listing the known ones.
    public func status(queues names: [String]? = nil) async throws -> [QueueStatus] {
        let manifests = try (names ?? catalog.names).map { try catalog.manifest($0) }
        let targets = manifests.flatMap { m in (0..<m.shards).map { QueueKeys(queue: m.name, shard: $0) } }
        let (now, shards) = try await inspect(targets)
        var byQueue: [String: [ShardStatus]] = [:]
        for shard in shards { byQueue[shard.queue, default: []].append(shard) }
        return manifests.map { manifest in
            var status = QueueStatus(queue: manifest.name, observedAtMs: now, shards: byQueue[manifest.name] ?? [])
            status.alerts = QueueAlert.evaluate(status, manifest: manifest)
            return status
        }
    }

    /// One queue of the catalog.
    public func status(of queue: String) async throws -> QueueStatus {
        try await status(queues: [queue])[0]
    }

    /// One shard by its keys, whether or not the catalog declares it (an unused shard reads as zeros).
    public func status(of keys: QueueKeys) async throws -> ShardStatus {
        try await inspect([keys]).1[0]
    }

    /// The commands of one shard, in the order `parse` reads their replies.
    private static func commands(_ keys: QueueKeys) -> [RedisCommand] {
        [
            RedisCommand("XLEN", keys.stream),
            // FULL with COUNT 1: groups, their consumers and each group's oldest pending entry in
            // one command, with the entries themselves capped at one.
            RedisCommand("XINFO", "STREAM", keys.stream, "FULL", "COUNT", 1),
            RedisCommand("ZCARD", keys.delayed),
            RedisCommand("ZRANGE", keys.delayed, 0, 0, "WITHSCORES"),
            RedisCommand("XLEN", keys.deadLetters),
        ]
    }

    private static let commandsPerShard = 5

    private func inspect(_ targets: [QueueKeys]) async throws -> (Int64, [ShardStatus]) {
        // TIME first: ages are computed by the server's clock, the one that stamped the entries.
        let commands = [RedisCommand("TIME")] + targets.flatMap(Self.commands)
        let replies = try await redis.pipeline(commands)
        let time = try replies[0].get().array ?? []
        let now = (time.first?.int ?? 0) * 1000 + (time.count > 1 ? (time[1].int ?? 0) / 1000 : 0)
        let shards = targets.enumerated().map { index, keys in
            let start = 1 + index * Self.commandsPerShard
            return Self.parse(keys, Array(replies[start..<start + Self.commandsPerShard]), now: now)
        }
        return (now, shards)
    }

    static func parse(_ keys: QueueKeys, _ replies: [Result<RedisValue, RedisError>], now: Int64) -> ShardStatus {
        var status = ShardStatus(queue: keys.queue, shard: keys.shard)
        let names = ["XLEN stream", "XINFO STREAM", "ZCARD delayed", "ZRANGE delayed", "XLEN dlq"]
        func value(_ i: Int) -> RedisValue? {
            switch replies[i] {
            case .success(let value): return value
            case .failure(let error):
                // A stream or group that does not exist yet is an empty shard, not a fault.
                if case .server(let code, let message) = error,
                   code == "NOGROUP" || message.lowercased().contains("no such key") {
                    return nil
                }
                status.errors.append("\(names[i]): \(error)")
                return nil
            }
        }
        status.length = Int(value(0)?.int ?? 0)
        if let info = value(1) {
            status.exists = true
            status.groups = (Self.field("groups", in: info)?.array ?? []).map { parseGroup($0, now: now) }
            // FULL COUNT 1 lists the stream's first entry: acked entries are deleted, so it is the oldest unsettled one.
            if let first = Self.field("entries", in: info)?.array?.first?.array?.first?.string, let ms = Int64(first.prefix { $0 != "-" }) {
                status.oldestEntryAgeMs = max(now - ms, 0)
            }
        }
        status.delayed = Int(value(2)?.int ?? 0)
        if let first = value(3)?.array, first.count == 2, let due = first[1].string.flatMap(Double.init) {
            status.nextDueInMs = Int64(due) - now
        }
        status.deadLetters = Int(value(4)?.int ?? 0)

        status.pending = status.groups.reduce(0) { $0 + $1.pending }
        status.oldestPending = status.groups.compactMap(\.oldestPending).max { $0.idleMs < $1.idleMs }
        let lags = status.groups.compactMap(\.lag)
        if status.groups.isEmpty {
            status.undelivered = status.length  // no group has read anything yet
        } else if lags.count == status.groups.count {
            status.undelivered = lags.max()
        } else if status.groups.count == 1 {
            // Acked entries are deleted, so with one group the rest of the stream is undelivered.
            status.undelivered = max(status.length - status.pending, 0)
        }
        return status
    }

    static func parseGroup(_ reply: RedisValue, now: Int64) -> GroupStatus {
        let pendingList = field("pending", in: reply)?.array ?? []
        var oldest: PendingEntryStatus?
        if let entry = pendingList.first?.array, entry.count >= 4, let sid = entry[0].string {
            let delivered = entry[2].int ?? now
            let created = Int64(sid.prefix { $0 != "-" }) ?? now
            oldest = PendingEntryStatus(streamID: sid, consumer: entry[1].string ?? "", idleMs: max(now - delivered, 0),
                                        ageMs: max(now - created, 0), deliveries: Int(entry[3].int ?? 1))
        }
        let consumers = (field("consumers", in: reply)?.array ?? []).map { consumer in
            // Redis 7.2 reports `active-time` too; `seen-time` (any interaction) is what XINFO
            // CONSUMERS calls idle, and exists since 6.0.
            ConsumerStatus(name: field("name", in: consumer)?.string ?? "",
                           pending: Int(field("pel-count", in: consumer)?.int ?? 0),
                           idleMs: max(now - (field("seen-time", in: consumer)?.int ?? now), 0))
        }
        return GroupStatus(
            name: field("name", in: reply)?.string ?? "",
            pending: Int(field("pel-count", in: reply)?.int ?? 0),
            lag: field("lag", in: reply)?.int.map { Int($0) },
            lastDeliveredID: field("last-delivered-id", in: reply)?.string ?? "",
            oldestPending: oldest,
            consumers: consumers.sorted { $0.name < $1.name })
    }

    /// The value after `name` in a RESP2 flat key/value array (RESP3 maps arrive flattened too).
    static func field(_ name: String, in reply: RedisValue) -> RedisValue? {
        guard let items = reply.array else { return nil }
        var i = 0
        while i + 1 < items.count {
            if items[i].string == name { return items[i + 1] }
            i += 2
        }
        return nil
    }
}
