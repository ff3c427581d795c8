/// What enqueueing and queue operations can refuse, each naming the queue and the reason.
public enum QueueError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownQueue(String, known: [String])
    case payloadNotJSON(queue: String, reason: String)
    case payloadTooLarge(queue: String, bytes: Int, limit: Int)
    /// Backpressure: the backlog is at the queue's `max_length`; nothing was enqueued or trimmed.
    case queueFull(queue: String, shard: Int, backlog: Int, limit: Int)
    case invalidDelay(String)
    case invalidKey(String)
    /// The message id is already live on the queue (queued, delayed or in flight): two entries
    /// sharing an id would share one fencing epoch, so the second is refused.
    case messageIDInUse(queue: String, id: String)
    case unexpectedScriptReply(String)
    /// Not sent: an earlier group of the same `enqueueGroups` call (`behind`, its key) was refused,
    /// and no group overtakes an earlier one.
    case heldBack(queue: String, behind: String)

    public var description: String {
        switch self {
        case .unknownQueue(let name, let known):
            return "unknown queue '\(name)' (known: \(known.joined(separator: ", ")))"
        case .payloadNotJSON(let queue, let reason):
            return "\(queue): payload: not valid JSON: \(reason)"
        case .payloadTooLarge(let queue, let bytes, let limit):
            return "\(queue): payload: \(bytes) bytes is over the queue's limit of \(limit) bytes (max_payload_bytes)"
        case .queueFull(let queue, let shard, let backlog, let limit):
            return "\(queue) shard \(shard) is full: \(backlog) messages waiting, max_length is \(limit); nothing was enqueued — retry later or raise max_length"
        case .invalidDelay(let reason):
            return "delay: \(reason)"
        case .invalidKey(let reason):
            return "key: \(reason)"
        case .messageIDInUse(let queue, let id):
            return "\(queue): message id \(id) is already queued, delayed or in flight; nothing was enqueued (use a new id)"
        case .unexpectedScriptReply(let reply):
            return "unexpected reply from a queue script: \(reply)"
        case .heldBack(let queue, let behind):
            return "\(queue): not sent: the earlier group '\(behind)' of the same call was refused, and no group overtakes another"
        }
    }

    /// Whether the message itself is refused — its payload, key, id or delay — so that sending it
    /// again, unchanged, is refused again; not a refusal of the moment (full, an id in use).
    public var refusesTheMessageItself: Bool {
        switch self {
        case .payloadNotJSON, .payloadTooLarge, .invalidDelay, .invalidKey: true
        case .unknownQueue, .queueFull, .messageIDInUse, .unexpectedScriptReply, .heldBack: false
        }
    }
}
