import TMRedis

/// What an idempotency key says about the message it named: its id and whether it still waits or
/// runs (`queued`), finished (`done`), or was dead-lettered (`dead`).
///
/// Guarantees: read as the enqueue and settle scripts wrote it, in one GET; nil from `record` means
/// no record lives under the key (never enqueued with it, or the record outlived its retention).
public struct KeyedMessageRecord: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        /// Enqueued and not yet settled: waiting, delayed, being retried, or running.
        case queued
        case done
        case dead
    }

    public let id: String
    public let state: State
    /// The result its handler recorded, once done.
    public let result: String?

    /// Settled one way or the other: nothing of it is waiting or running any more.
    public var isFinished: Bool { state != .queued }
}

extension QueueProducer {
    /// The record under idempotency `key` on `queue`, read without enqueueing anything.
    /// `shardKey` must be the one the enqueue used; without it the shard is the key's, as for an
    /// enqueue given no shard key whose payload does not carry the manifest's `shard_by` field.
    public func record(queue: String, key: String, shardKey: String? = nil) async throws -> KeyedMessageRecord? {
        let manifest = try catalog.manifest(queue)
        let keys = QueueKeys(queue: queue, shard: QueueKeys.shard(for: shardKey ?? key, shards: manifest.shards))
        let reply = try await redis.send("GET", keys.idempotency(key))
        guard let bytes = reply.bytes else { return nil }
        let record = IdempotencyRecord(bytes)
        guard let id = record.id, let state = record.state.flatMap(KeyedMessageRecord.State.init(rawValue:)) else {
            throw QueueError.unexpectedScriptReply("idempotency record of '\(key)': \(String(decoding: bytes, as: UTF8.self))")
        }
        return KeyedMessageRecord(id: id, state: state, result: record.result)
    }
}
