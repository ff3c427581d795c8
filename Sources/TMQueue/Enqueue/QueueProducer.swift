import Foundation
import TMCrypto
import TMRedis

/// What an enqueue did.
public struct EnqueueResult: Sendable, Hashable {
    /// The message id: new, or for a duplicate the id of the first message with the same key.
    public let id: String
    public let shard: Int
    /// True when the idempotency key was already taken: nothing new was enqueued.
    public let duplicate: Bool
    /// For a duplicate, what became of the first message: `queued`, `done` or `dead`.
    public let state: String?
    /// For a duplicate whose first message finished, the result its handler recorded.
    public let result: String?
    /// The stream entry id, or nil when the message waits in the delayed set.
    public let streamID: String?
}

/// A message to enqueue. `payload` must be a JSON document.
public struct OutgoingMessage: Sendable {
    public var payload: [UInt8]
    /// Idempotency key: while its record lives (the queue's `retention.completed`), enqueueing
    /// the same key again returns the first message instead of adding one.
    public var key: String?
    /// Start no earlier than this from now.
    public var delay: Duration?
    /// Overrides the shard choice (otherwise the manifest's `shard_by` field, then the key).
    public var shardKey: String?

    public init(payload: [UInt8], key: String? = nil, delay: Duration? = nil, shardKey: String? = nil) {
        self.payload = payload
        self.key = key
        self.delay = delay
        self.shardKey = shardKey
    }

    public init<T: Encodable>(json value: T, key: String? = nil, delay: Duration? = nil, shardKey: String? = nil) throws {
        self.init(payload: Array(try JSONEncoder().encode(value)), key: key, delay: delay, shardKey: shardKey)
    }
}

/// Puts messages on queues.
///
/// Guarantees: with a key, checking the key, refusing a full queue, adding the message and
/// recording the key happen in one script — two producers racing with the same key enqueue once;
/// a payload that is not JSON or over the size limit is refused before anything is written; a
/// full queue is refused with `QueueError.queueFull`, never trimmed.
public struct QueueProducer: Sendable {
    public let redis: RedisClient
    public let catalog: QueueCatalog

    public init(redis: RedisClient, catalog: QueueCatalog) {
        self.redis = redis
        self.catalog = catalog
    }

    @discardableResult
    public func enqueue(_ queue: String, _ message: OutgoingMessage) async throws -> EnqueueResult {
        let prepared = try prepare(queue, message)
        let reply = try await redis.run(QueueScripts.enqueue, keys: prepared.keys, arguments: prepared.arguments)
        return try prepared.interpret(reply)
    }

    /// Enqueues many messages in one round trip: one script call per shard for the whole batch
    /// (`QueueScripts.enqueueBatch`), results in input order. Each message is checked and enqueued
    /// on its own, exactly as `enqueue` would: a duplicate key answers with the first message, a
    /// full shard refuses the messages past its `max_length` without failing the others.
    public func enqueueBatch(_ queue: String, _ messages: [OutgoingMessage]) async throws -> [Result<EnqueueResult, Error>] {
        var results: [Result<EnqueueResult, Error>?] = Array(repeating: nil, count: messages.count)
        var byShard: [Int: [(index: Int, message: Prepared)]] = [:]
        for (index, message) in messages.enumerated() {
            do {
                let prepared = try prepare(queue, message)
                byShard[prepared.shard, default: []].append((index, prepared))
            } catch {
                results[index] = .failure(error)
            }
        }
        let shards = byShard.keys.sorted()
        let calls = shards.map { Prepared.batchCall(byShard[$0]!.map(\.message)) }
        let replies = try await redis.withConnection { connection in
            try connection.runPipelined(QueueScripts.enqueueBatch, calls: calls)
        }
        for (shard, reply) in zip(shards, replies) {
            let group = byShard[shard]!
            switch reply {
            case .success(let value):
                let each = value.array ?? []
                for (position, (index, prepared)) in group.enumerated() {
                    results[index] = Result {
                        guard position < each.count else { throw QueueError.unexpectedScriptReply(value.description) }
                        return try prepared.interpret(each[position])
                    }
                }
            case .failure(let error):
                for (index, _) in group { results[index] = .failure(error) }
            }
        }
        return results.map { $0! }
    }

    /// One message, checked and ready for the enqueue scripts.
    struct Prepared {
        let queue: String
        let shard: Int
        let manifest: QueueManifest
        let id: String
        let key: String?
        let payload: [UInt8]
        let now: Int64
        let due: Int64

        var queueKeys: QueueKeys { QueueKeys(queue: queue, shard: shard) }

        /// KEYS and ARGV of `QueueScripts.enqueue`.
        var keys: [any RedisArgumentConvertible] {
            var keys: [any RedisArgumentConvertible] = [queueKeys.stream, queueKeys.delayed]
            if let key { keys.append(queueKeys.idempotency(key)) }
            return keys
        }

        var arguments: [any RedisArgumentConvertible] {
            [id, key ?? "", payload, now, due, manifest.maxLength, manifest.retention.completed.milliseconds, 0, "[]", now]
        }

        /// KEYS and ARGV of `QueueScripts.enqueueBatch` for messages of one shard (non-empty).
        static func batchCall(_ messages: [Prepared]) -> (keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) {
            let first = messages[0]
            var keys: [any RedisArgumentConvertible] = [first.queueKeys.stream, first.queueKeys.delayed]
            var arguments: [any RedisArgumentConvertible] = [first.manifest.maxLength, first.manifest.retention.completed.milliseconds, first.now]
            for message in messages {
                if let key = message.key { keys.append(message.queueKeys.idempotency(key)) }
                arguments += [message.id, message.key ?? "", message.payload, message.due - message.now]
            }
            return (keys, arguments)
        }

        func interpret(_ reply: RedisValue) throws -> EnqueueResult {
            guard let parts = reply.array, let status = parts.first?.string else {
                throw QueueError.unexpectedScriptReply(reply.description)
            }
            switch status {
            case "ok":
                let where_ = parts[2].string
                return EnqueueResult(id: parts[1].string ?? "", shard: shard, duplicate: false, state: nil, result: nil,
                                     streamID: where_ == "delayed" ? nil : where_)
            case "duplicate":
                let record = IdempotencyRecord(parts[1].bytes ?? [])
                return EnqueueResult(id: record.id ?? "", shard: shard, duplicate: true, state: record.state, result: record.result, streamID: nil)
            case "full":
                throw QueueError.queueFull(queue: queue, shard: shard, backlog: Int(parts[1].string ?? "") ?? 0, limit: manifest.maxLength)
            default:
                throw QueueError.unexpectedScriptReply(reply.description)
            }
        }
    }

    func prepare(_ queue: String, _ message: OutgoingMessage) throws -> Prepared {
        let manifest = try catalog.manifest(queue)
        guard message.payload.count <= manifest.maxPayloadBytes else {
            throw QueueError.payloadTooLarge(queue: queue, bytes: message.payload.count, limit: manifest.maxPayloadBytes)
        }
        // JSON travels as UTF-8 (and is embedded as text in the delayed set): no other encoding.
        guard !message.payload.contains(0), String(bytes: message.payload, encoding: .utf8) != nil else {
            throw QueueError.payloadNotJSON(queue: queue, reason: "not UTF-8 text")
        }
        let document: Any
        do {
            document = try JSONSerialization.jsonObject(with: Data(message.payload), options: [.fragmentsAllowed])
        } catch {
            throw QueueError.payloadNotJSON(queue: queue, reason: Self.describe(error))
        }
        if let delay = message.delay, delay < .zero { throw QueueError.invalidDelay("must not be negative") }
        if let key = message.key, key.isEmpty || key.utf8.count > 512 {
            throw QueueError.invalidKey("must be 1 to 512 bytes")
        }

        let shardKey = message.shardKey
            ?? manifest.shardBy.flatMap { field in (document as? [String: Any])?[field].map { "\($0)" } }
            ?? message.key
        let shard = shardKey.map { QueueKeys.shard(for: $0, shards: manifest.shards) } ?? Int.random(in: 0..<manifest.shards)
        let now = nowMillis()
        return Prepared(queue: queue, shard: shard, manifest: manifest, id: Self.newMessageID(), key: message.key,
                        payload: message.payload, now: now, due: now + (message.delay?.milliseconds ?? 0))
    }

    /// A message id: time-ordered (so ids sort by creation) with 80 random bits.
    static func newMessageID() -> String {
        let random = (try? SecureRandom.bytes(count: 10)) ?? (0..<10).map { _ in UInt8.random(in: 0...255) }
        return String(format: "%013llx", UInt64(nowMillis())) + random.map { String(format: "%02x", $0) }.joined()
    }

    static func describe(_ error: Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
        return text ?? "\(error)"
    }
}

/// The JSON kept under an idempotency key.
struct IdempotencyRecord {
    var id: String?
    var state: String?
    var result: String?

    init(_ bytes: [UInt8]) {
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
        id = object?["id"] as? String
        state = object?["state"] as? String
        result = object?["result"] as? String
    }
}
