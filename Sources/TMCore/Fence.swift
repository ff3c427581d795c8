/// Something that may write only while it is the newest of its kind: a lock holder (its fencing
/// token) or a message's delivery (its epoch). `TMLocks.FencingGuard` checks it in Postgres.
///
/// Guarantees of conforming types: `fencingToken` strictly increases for every new holder of the
/// same `resource`, so a write carrying an older token can be refused.
public protocol Fence: Sendable {
    /// What the fence guards, e.g. `sync:account:<id>` or `message:<queue>/<message id>`.
    var resource: String { get }
    var fencingToken: Int64 { get }
}

/// One delivery of a queue message as a fence: resource `message:<queue>/<message id>`, token the
/// delivery's epoch (which the queue raises on every delivery: first read, reclaim, retry, replay).
/// A handler that was paused while its message was redelivered carries the older epoch, so its
/// fenced writes are refused once the newer delivery has written.
/// Every delivery's epoch is at least 1 (enqueue writes 0 and each delivery raises it before the
/// message is handed out), so epoch 1 is a first delivery: Postgres fences it without a row
/// (migration 0046) and refuses a message fence below 1.
public struct MessageFence: Fence, Hashable, CustomStringConvertible {
    public let queue: String
    public let messageID: String
    public let epoch: Int64

    public init(queue: String, messageID: String, epoch: Int64) {
        self.queue = queue
        self.messageID = messageID
        self.epoch = epoch
    }

    /// The one place that spells a message fence's resource (also `tm_purge_message_fences`'s prefix).
    public static func resource(queue: String, messageID: String) -> String { "\(resourcePrefix)\(queue)/\(messageID)" }
    public static let resourcePrefix = "message:"

    public var resource: String { Self.resource(queue: queue, messageID: messageID) }
    public var fencingToken: Int64 { epoch }
    public var description: String { "\(resource) at epoch \(epoch)" }
}
