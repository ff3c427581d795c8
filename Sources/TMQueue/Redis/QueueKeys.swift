/// The Redis keys of one queue shard. Every key shares the hash tag `{<queue>.<shard>}`, so a
/// script touching several of them stays within one Redis Cluster slot.
public struct QueueKeys: Sendable, Hashable {
    public let queue: String
    public let shard: Int
    /// `tm:{<queue>.<shard>}:`, built once per value: a key below is then one concatenation, not
    /// an interpolation and a concatenation (the consumer names several keys per message).
    let prefix: String

    public init(queue: String, shard: Int) {
        self.queue = queue
        self.shard = shard
        prefix = "tm:{\(queue).\(shard)}:"
    }

    // Identity is the queue's bytes and the shard (the prefix follows from them): no hashing of the
    // prefix. Bytes, not `String ==`: two canonically equal spellings ("caf\u{e9}", "cafe\u{301}") are
    // different Redis keys, and equal values must name the same keys.
    public static func == (lhs: QueueKeys, rhs: QueueKeys) -> Bool {
        lhs.shard == rhs.shard && lhs.queue.utf8.elementsEqual(rhs.queue.utf8)
    }
    public func hash(into hasher: inout Hasher) {
        for byte in queue.utf8 { hasher.combine(byte) }
        hasher.combine(shard)
    }
    /// Ready and in-flight messages (acked entries are deleted, so this is the unfinished work).
    public var stream: String { prefix + "stream" }
    /// Messages waiting for a retry or a delayed start: a sorted set scored by due time (ms).
    public var delayed: String { prefix + "delayed" }
    /// Signals that the delayed set has a new head (an earlier due time): a stream trimmed to its
    /// last entry, written by the scripts that add to the delayed set and waited on by the shard's
    /// idle readers with the stream (`ShardRead`), whose waits end by the head's due time.
    public var wake: String { prefix + "wake" }
    /// Dead letters, each with its original id, key, payload and attempt history.
    public var deadLetters: String { prefix + "dlq" }
    /// Fencing epoch per message id, raised on every delivery.
    public var epochs: String { prefix + "epochs" }
    /// A value read together with every fetch of the shard, for a consumer that asks
    /// (`QueueConsumer.Options.readsWatchedKey`): writers put there what the handlers must see from
    /// the next message on (the order workers: the announced trading-state version).
    public var watched: String { prefix + "watched" }
    /// The idempotency record of `key`: which message it named and what became of it.
    public func idempotency(_ key: String) -> String {
        var name = prefix
        name.reserveCapacity(prefix.utf8.count + 5 + key.utf8.count)  // one allocation, not one per piece
        name += "idem:"
        name += key
        return name
    }

    /// The lock resource of this shard's lease: one owner consumes the shard (`DistributedLock`
    /// names its keys `tm:{lock:<resource>}:...`), e.g. the order-worker's `orders` shards.
    public var leaseResource: String { "shard:\(queue).\(shard)" }
    /// The workers consuming a queue's shards under leases, scored by their last heartbeat (ms):
    /// each takes its fair share of the shards.
    public static func shardWorkers(queue: String) -> String { "tm:{workers:\(queue)}:alive" }

    /// The shard for `shardKey`: FNV-1a, so every process (and language) agrees.
    public static func shard(for shardKey: String, shards: Int) -> Int {
        guard shards > 1 else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in shardKey.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(shards))
    }
}
