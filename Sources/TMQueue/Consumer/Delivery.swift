import Foundation
import TMCore

/// One delivery of a message to a handler.
///
/// `epoch` is the message's fencing epoch: it rises on every delivery (first read, reclaim after a
/// crash), so a handler can pass it to its guarded writes and a consumer that was paused and lost
/// the message cannot overwrite the result of the newer delivery.
///
/// A class of constants, not a struct: a delivery is handed from the read to the handler, the
/// batch collector and the settle, and each hand-over of a struct of eight references was a
/// retain per field (alert-bench's profile, session 18); shared, it is one.
public final class Delivery: Sendable {
    public let queue: String
    public let shard: Int
    /// The stream entry id of this delivery (changes when a retry re-enqueues the message).
    public let streamID: String
    /// The message id: stable across retries, replays and dead-lettering.
    public let id: String
    public let key: String?
    public let payload: [UInt8]
    /// This handler attempt, from 1; crashes and reclaims do not count, only handler failures.
    public let attempt: Int
    public let epoch: Int64
    /// Times this stream entry was handed out (1, or more after reclaims).
    public let deliveries: Int
    public let enqueuedAt: Date
    /// The failed (and deferred) attempts before this one.
    public let history: [AttemptRecord]
    /// The shard's watched key as the fetch that delivered this message read it (nil: the
    /// consumer does not read it, or the message came another way, e.g. a reclaim).
    public let watched: WatchedRead?

    public init(queue: String, shard: Int, streamID: String, id: String, key: String?, payload: [UInt8], attempt: Int, epoch: Int64,
                deliveries: Int, enqueuedAt: Date, history: [AttemptRecord], watched: WatchedRead? = nil) {
        self.queue = queue
        self.shard = shard
        self.streamID = streamID
        self.id = id
        self.key = key
        self.payload = payload
        self.attempt = attempt
        self.epoch = epoch
        self.deliveries = deliveries
        self.enqueuedAt = enqueuedAt
        self.history = history
        self.watched = watched
    }

    /// The same delivery with `watched` replaced.
    public func with(watched: WatchedRead?) -> Delivery {
        Delivery(queue: queue, shard: shard, streamID: streamID, id: id, key: key, payload: payload, attempt: attempt, epoch: epoch,
                 deliveries: deliveries, enqueuedAt: enqueuedAt, history: history, watched: watched)
    }

    /// Handed out before: a retry after a failed attempt (a crash of a function process fails its
    /// whole batch) or a reclaim after its consumer died. Such a message runs in a batch of its
    /// own, so a poison message cannot take its batch-mates down with it a second time.
    public var isRedelivery: Bool { attempt > 1 || deliveries > 1 || !history.isEmpty }

    /// The message's first run: no attempt failed or was deferred, and no consumer held it before
    /// (a deferral leaves the attempt number as it was, but the message has run before).
    public var isFirstDelivery: Bool { !isRedelivery }

    /// Decodes the payload; a payload that does not fit `T` is rejected for good (no retry can fix
    /// it), with the decoder's reason naming the field.
    public func decode<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(payload))
        } catch let error as DecodingError {
            throw MessageRejected(DecodingErrorText.describe(error, root: "(payload)"))
        }
    }
}

/// A shard's watched key (`QueueKeys.watched`) read in the same atomic script as the entries of
/// a fetch (`QueueConsumer.Options.readsWatchedKey`).
///
/// `value` is at least as new as any write of the key that finished before the fetch. It may
/// stand in for a read of the key made when the handler starts (`standsInForAReadNow`) only when
/// the message went from that fetch straight to its handler: it was the first entry of the read
/// and did not wait for its ordering key's lane. A message that waited behind another (a read's
/// later entries, a message held for its key, a reclaim) was fetched arbitrarily long ago, and a
/// write that finished meanwhile would be missed: its handler must read the key itself.
public struct WatchedRead: Sendable, Equatable {
    /// The key's value; nil when it did not exist (never written, or lost with Redis's data).
    public let value: String?
    public let standsInForAReadNow: Bool

    public init(value: String?, standsInForAReadNow: Bool) {
        self.value = value
        self.standsInForAReadNow = standsInForAReadNow
    }
}

/// The message itself is wrong (invalid field, unknown account, ...): dead-letter it at once with
/// this reason; an operator can correct and replay it (`tm dlq replay --patch`).
public struct MessageRejected: Error, RetryClassifying, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var isRetryable: Bool { false }
    public var description: String { reason }
}

/// What a handler returns: an optional result, kept under the message's idempotency key so a
/// duplicate enqueue or a replay of finished work is answered with it.
public typealias QueueHandler = @Sendable (Delivery) async throws -> String?

/// What a batch handler returns: one answer per delivery, in the order given — a result as from
/// `QueueHandler`, or the error that delivery alone failed with (retried or dead-lettered alone;
/// the others are acked).
public typealias QueueBatchHandler = @Sendable ([Delivery]) async -> [Result<String?, any Error>]
