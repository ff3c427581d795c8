import Foundation
import TMCore
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
    /// The message id; nil (the default) draws a new unique one. A chosen id must not be live on
    /// the queue already (queued, delayed or in flight), or the enqueue fails with `messageIDInUse`.
    public var id: String?

    public init(payload: [UInt8], key: String? = nil, delay: Duration? = nil, shardKey: String? = nil, id: String? = nil) {
        self.payload = payload
        self.key = key
        self.delay = delay
        self.shardKey = shardKey
        self.id = id
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
    /// Most messages one `enqueueBatch` script call carries; a shard's larger part goes in calls
    /// of this many, in order, a round trip each. Redis runs one script at a time and every other
    /// caller waits behind it: ~16 µs a message in the bench's burst, whose 125 a call held Redis
    /// ~2 ms (up to 7) — PROFILE.md, session 29 (redis5). 32 keeps a call at a few hundred µs.
    public var messagesPerCall = 32

    public init(redis: RedisClient, catalog: QueueCatalog) {
        self.redis = redis
        self.catalog = catalog
    }

    @discardableResult
    public func enqueue(_ queue: String, _ message: OutgoingMessage) async throws -> EnqueueResult {
        var ids = MessageIDs(count: message.id == nil ? 1 : 0)
        let prepared = try prepare(queue, message, manifest: try catalog.manifest(queue), clock: .now(), ids: &ids)
        let reply = try await redis.run(QueueScripts.enqueue, keys: prepared.keys, arguments: prepared.arguments)
        return try prepared.interpret(reply)
    }

    /// Enqueues many messages: one script call per shard for up to `messagesPerCall` of its
    /// messages (`QueueScripts.enqueueBatch`), a shard's calls in input order; results in input
    /// order. Each message is checked and enqueued on its own, exactly as `enqueue` would: a
    /// duplicate key answers with the first message, a full shard refuses the messages past its
    /// `max_length` without failing the others.
    ///
    /// A call refused whole (an error reply: a failover's READONLY, OOM, ...) stops its shard: the
    /// shard's later calls are not sent and their messages fail with the same error, so none of them
    /// overtakes the refused ones. (A message refused as full does not: the later ones are checked
    /// each as `enqueue` would, as above — a duplicate key still answers as a duplicate.) A failure
    /// of the connection throws only when nothing was sent before it; after a first round it is the
    /// result of every message whose call had not answered (those before it are on the queue, and
    /// their results are kept).
    public func enqueueBatch(_ queue: String, _ messages: [OutgoingMessage]) async throws -> [Result<EnqueueResult, Error>] {
        var results: [Result<EnqueueResult, Error>?] = Array(repeating: nil, count: messages.count)
        var byShard: [Int: [(index: Int, message: Prepared)]] = [:]
        // Looked up, timed and drawn once per batch, not per message (a shard's calls follow each
        // other at once: one `now` for all).
        let manifest = Result { try catalog.manifest(queue) }
        let clock = QueueClockReading.now()
        var ids = MessageIDs(count: messages.count(where: { $0.id == nil }))
        for (index, message) in messages.enumerated() {
            do {
                let prepared = try prepare(queue, message, manifest: try manifest.get(), clock: clock, ids: &ids)
                byShard[prepared.shard, default: []].append((index, prepared))
            } catch {
                results[index] = .failure(error)
            }
        }
        // Round r sends each shard's r-th call: a shard's calls go in order, one after another.
        let size = max(1, messagesPerCall)
        let parts = byShard.keys.sorted().map { shard in
            let all = byShard[shard]!
            return stride(from: 0, to: all.count, by: size).map { all[$0..<min($0 + size, all.count)] }
        }
        var halted: [Int: any Error] = [:]  // by the shard's place in `parts`: why its later calls are not sent
        for round in 0..<(parts.map(\.count).max() ?? 0) {
            var calls: [(shard: Int, group: ArraySlice<(index: Int, message: Prepared)>)] = []
            for (shard, shardCalls) in parts.enumerated() where round < shardCalls.count {
                if let why = halted[shard] {
                    for (index, _) in shardCalls[round] { results[index] = .failure(why) }
                } else {
                    calls.append((shard, shardCalls[round]))
                }
            }
            guard !calls.isEmpty else { continue }
            let replies: [Result<RedisValue, RedisError>]
            do {
                replies = try await runPerSlot(calls.map { Prepared.scriptCall($0.group.map(\.message)) })
            } catch where round > 0 {
                // Earlier rounds' messages are on the queue: keep their results; the rest fail by it.
                return results.map { $0 ?? .failure(error) }
            }
            for ((shard, group), reply) in zip(calls, replies) {
                Self.record(reply, of: group, into: &results)
                if let why = Self.haltingError(reply) { halted[shard] = why }
            }
        }
        return results.map { $0! }
    }

    /// Why a shard's later calls must not be sent after this one: the call was refused whole.
    private static func haltingError(_ reply: Result<RedisValue, RedisError>) -> (any Error)? {
        if case .failure(let error) = reply { return error }
        return nil
    }

    /// The results of one `enqueueBatch` script call's messages, at their places in the batch.
    private static func record(_ reply: Result<RedisValue, RedisError>, of group: ArraySlice<(index: Int, message: Prepared)>,
                               into results: inout [Result<EnqueueResult, Error>?]) {
        switch reply {
        case .success(let value):
            // A lone message's reply is its own (`enqueue`), a batch's one per message.
            let each = group.count == 1 ? [value] : value.array ?? []
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

    /// Runs script calls of several shards, one pipeline per hash slot (so each would go to one
    /// Redis Cluster node); replies in call order.
    func runPerSlot(_ calls: [RedisScriptCall]) async throws -> [Result<RedisValue, RedisError>] {
        try await redis.withConnection { connection in
            var replies = [Result<RedisValue, RedisError>?](repeating: nil, count: calls.count)
            for indices in calls.indicesBySlot() {
                for (index, reply) in zip(indices, try connection.runPipelined(indices.map { calls[$0] })) { replies[index] = reply }
            }
            return replies.map { $0! }
        }
    }

    /// One message, checked and ready for the enqueue scripts.
    struct Prepared {
        let queue: String
        let shard: Int
        let manifest: QueueManifest
        let id: String
        /// True when the caller chose the id: only then can it be live already (a drawn id is new).
        let chosenID: Bool
        let key: String?
        let payload: [UInt8]
        let now: Int64
        let due: Int64

        var queueKeys: QueueKeys { QueueKeys(queue: queue, shard: shard) }

        /// KEYS and ARGV of `QueueScripts.enqueue`.
        var keys: [any RedisArgumentConvertible] {
            var keys: [any RedisArgumentConvertible] = [queueKeys.stream, queueKeys.delayed, queueKeys.epochs, queueKeys.wake]
            if let key { keys.append(queueKeys.idempotency(key)) }
            return keys
        }

        var arguments: [any RedisArgumentConvertible] {
            [id, key ?? "", payload, now, due, manifest.maxLength, manifest.retention.completed.milliseconds, 0, "[]", now, chosenID ? "1" : "0"]
        }

        /// The script call that enqueues messages of one shard (non-empty): a lone message (the API's
        /// intake mostly sends one order a call) by `QueueScripts.enqueue` — the same checks and writes
        /// as the batch script's for one message, without its loops and tables (redis-server's CPU per
        /// call ~14 µs against ~16-18, commandstats) — several by `QueueScripts.enqueueBatch`.
        static func scriptCall(_ messages: [Prepared]) -> RedisScriptCall {
            if messages.count == 1 {
                return RedisScriptCall(QueueScripts.enqueue, keys: messages[0].keys, arguments: messages[0].arguments)
            }
            let call = batchCall(messages)
            return RedisScriptCall(QueueScripts.enqueueBatch, keys: call.keys, arguments: call.arguments)
        }

        /// KEYS and ARGV of `QueueScripts.enqueueBatch` for messages of one shard (non-empty).
        static func batchCall(_ messages: [Prepared]) -> (keys: [any RedisArgumentConvertible], arguments: [any RedisArgumentConvertible]) {
            let first = messages[0]
            var keys: [any RedisArgumentConvertible] = [first.queueKeys.stream, first.queueKeys.delayed, first.queueKeys.epochs, first.queueKeys.wake]
            var arguments: [any RedisArgumentConvertible] = [first.manifest.maxLength, first.manifest.retention.completed.milliseconds, first.now]
            for message in messages {
                if let key = message.key { keys.append(message.queueKeys.idempotency(key)) }
                arguments += [message.id, message.key ?? "", message.payload, message.due - message.now, message.chosenID ? "1" : "0"]
            }
            return (keys, arguments)
        }

        /// The enqueue scripts' answer for this message: `enqueueBatch` answers an added message by its
        /// stream id (or "delayed") alone, `enqueue` by {"ok", id, where}; the other answers are tables.
        func interpret(_ reply: RedisValue) throws -> EnqueueResult {
            if case .bulk = reply, let where_ = reply.string {
                return EnqueueResult(id: id, shard: shard, duplicate: false, state: nil, result: nil,
                                     streamID: where_ == "delayed" ? nil : where_)
            }
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
            case "id_in_use":
                throw QueueError.messageIDInUse(queue: queue, id: parts[1].string ?? "")
            default:
                throw QueueError.unexpectedScriptReply(reply.description)
            }
        }
    }

    /// `message` checked for `queue`: size, UTF-8, and — unless `payloadIsJSON` (the caller wrote
    /// the payload with a JSON serializer itself; never for input from outside) — strict JSON.
    /// Stamped at `clock`, due `message.delay` after it (rounded up: never early).
    func prepare(_ queue: String, _ message: OutgoingMessage, manifest: QueueManifest, clock: QueueClockReading, ids: inout MessageIDs,
                 payloadIsJSON: Bool = false) throws -> Prepared {
        guard message.payload.count <= manifest.maxPayloadBytes else {
            throw QueueError.payloadTooLarge(queue: queue, bytes: message.payload.count, limit: manifest.maxPayloadBytes)
        }
        // JSON travels as UTF-8 (and is embedded as text in the delayed set): no other encoding.
        guard Self.isUTF8WithoutNUL(message.payload) else {
            throw QueueError.payloadNotJSON(queue: queue, reason: "not UTF-8 text")
        }
        let document: JSONValue?
        if message.shardKey == nil, manifest.shardBy != nil {
            document = try Self.validatedJSON(message.payload, queue: queue)
        } else {
            // No field to read: the same strict check without building the tree.
            if !payloadIsJSON { try Self.checkJSON(message.payload, queue: queue) }
            document = nil
        }
        if let delay = message.delay, delay < .zero { throw QueueError.invalidDelay("must not be negative") }
        if let key = message.key, key.isEmpty || key.utf8.count > 512 {
            throw QueueError.invalidKey("must be 1 to 512 bytes")
        }
        if let id = message.id, id.isEmpty || id.utf8.count > 128 {
            throw QueueError.invalidKey("message id: must be 1 to 128 bytes")
        }
        if let id = message.id, MessageIDs.hasDrawnShape(id) {
            throw QueueError.invalidKey("message id: 33 lowercase hex digits is the shape of an id the queue draws; choose another")
        }

        let shardKey = message.shardKey
            ?? manifest.shardBy.flatMap { field in document?[field].flatMap(Self.shardText) }
            ?? message.key
        let shard = shardKey.map { QueueKeys.shard(for: $0, shards: manifest.shards) } ?? Int.random(in: 0..<manifest.shards)
        let now = clock.millis
        return Prepared(queue: queue, shard: shard, manifest: manifest, id: message.id ?? ids.next(now: now), chosenID: message.id != nil, key: message.key,
                        payload: message.payload, now: now, due: clock.due(after: message.delay ?? .zero))
    }

    /// UTF-8 text with no NUL byte; the all-ASCII payloads of the common case are settled by one
    /// scan without building a `String`.
    static func isUTF8WithoutNUL(_ payload: [UInt8]) -> Bool {
        if payload.allSatisfy({ $0 != 0 && $0 < 0x80 }) { return true }
        return !payload.contains(0) && String(bytes: payload, encoding: .utf8) != nil
    }

    /// The payload parsed as one strict RFC 8259 JSON document (no trailing commas, comments or
    /// other leniencies that a stricter consumer downstream would refuse), or `payloadNotJSON`
    /// naming the reason and the byte offset.
    static func validatedJSON(_ payload: [UInt8], queue: String) throws -> JSONValue {
        try strictJSON(queue) { try JSONValue.parse(payload) }
    }

    /// `validatedJSON`'s check (same strictness, same error) without building the document.
    static func checkJSON(_ payload: [UInt8], queue: String) throws {
        try strictJSON(queue) { try JSONValue.validate(payload) }
    }

    private static func strictJSON<T>(_ queue: String, _ read: () throws -> T) throws -> T {
        do {
            return try read()
        } catch let error as JSONValue.ParseError {
            throw QueueError.payloadNotJSON(queue: queue, reason: "\(error.reason) at byte \(error.offset)")
        }
    }

    /// A `shard_by` field's value as the shard key: a string as is, a number as written.
    static func shardText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): return text
        case .number(let literal): return literal
        case .bool(let flag): return flag ? "1" : "0"
        case .null, .array, .object: return nil
        }
    }
}

/// Message ids: time-ordered (so ids sort by creation) with 80 random bits, the random bytes of a
/// whole batch drawn in one call and hex-encoded by table (no formatting per byte).
struct MessageIDs {
    private static let hex = Array("0123456789abcdef".utf8)
    private let random: [UInt8]
    private var used = 0

    /// Ready for `count` ids; more are drawn as needed.
    init(count: Int) {
        random = Self.draw(10 * count)
    }

    private static func draw(_ count: Int) -> [UInt8] {
        (try? SecureRandom.bytes(count: count)) ?? (0..<count).map { _ in UInt8.random(in: 0...255) }
    }

    /// Whether `id` has the shape of an id this draws: 33 lowercase hex digits (13 of time until the
    /// year 142,000, then 20 random). A chosen id may not have it, so no chosen id can equal a drawn
    /// one — which is why a group's messages need no epoch entry for `enqueue`'s `id_in_use` refusal.
    static func hasDrawnShape(_ id: String) -> Bool {
        id.utf8.count == 33 && id.utf8.allSatisfy { hex.contains($0) }
    }

    /// `now` in at least 13 hex digits, then 20 hex digits of fresh random bytes.
    mutating func next(now: Int64) -> String {
        let bytes: ArraySlice<UInt8>
        if used + 10 <= random.count {
            bytes = random[used..<used + 10]
            used += 10
        } else {
            bytes = Self.draw(10)[...]
        }
        let time = UInt64(now)
        let nibbles = max(13, (64 - time.leadingZeroBitCount + 3) / 4)
        var text = [UInt8]()
        text.reserveCapacity(nibbles + 20)
        for shift in stride(from: 4 * (nibbles - 1), through: 0, by: -4) { text.append(Self.hex[Int((time >> UInt64(shift)) & 0xF)]) }
        for byte in bytes {
            text.append(Self.hex[Int(byte >> 4)])
            text.append(Self.hex[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
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
