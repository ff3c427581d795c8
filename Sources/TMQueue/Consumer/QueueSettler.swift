import TMCore
import TMRedis

/// One control connection (`q-ctl`) and one settler shared by several consumers of a process —
/// e.g. the order-worker's one consumer per owned shard. Each consumer alone has its own, so at a
/// moderate rate spread over many shards their settles rarely meet: every message costs its own
/// `complete` call, round trip and control-thread wake-up. Shared, the settles that arrive while
/// one round trip is in flight go out together in the next (`ScriptBatcher`): the completions of
/// a shard merged into one script call, the calls of different shards in one pipeline on a lone
/// Redis server (one per hash slot on a cluster).
///
/// Guarantees: as each consumer's own — every call its own reply (a completion its own element,
/// checked), a consumer that lost a message cannot settle it (the scripts check its epoch), one
/// pipeline per hash slot on a cluster; the consumers given it neither open nor close it: its
/// owner closes it after they have stopped.
public final class QueueSettler: Sendable {
    /// The shared control connection: the consumers' groups, reclaims, promotions, heartbeats and settles.
    public let control: RedisClient
    let batcher: ScriptBatcher

    public init(redis: RedisConfiguration, name: String = "q-ctl") async throws {
        control = try await RedisClient(configuration: redis, name: name)
        batcher = ScriptBatcher(redis: control)
    }

    /// Round trips sent so far, and of them those that carried calls of several hash slots.
    public var roundTrips: (all: Int, mixingSlots: Int) { batcher.roundTrips }

    public func close() { control.close() }
}
