import Foundation
import TMCore

/// One message handed to a function, like a record of an SQS event: `body` is the message's JSON
/// payload as text, exactly as it was enqueued.
public struct InvocationRecord: Codable, Sendable, Equatable {
    /// Stable across retries, replays and dead-lettering: the id to report a failure against.
    public var messageID: String
    public var key: String?
    public var queue: String
    /// This message's attempt, from 1.
    public var attempt: Int
    /// The delivery's fencing epoch: the queue raises it on every delivery of the message (first
    /// read, reclaim after a crash, retry, replay). Guard Postgres writes with `fence`, so that this
    /// invocation, if it was paused while the message went to another, cannot commit over the newer one.
    public var epoch: Int64
    /// When the message was first enqueued (Unix milliseconds).
    public var enqueuedAtMillis: Int64
    public var body: String

    public init(messageID: String, key: String? = nil, queue: String, attempt: Int, epoch: Int64, enqueuedAtMillis: Int64, body: String) {
        self.messageID = messageID
        self.key = key
        self.queue = queue
        self.attempt = attempt
        self.epoch = epoch
        self.enqueuedAtMillis = enqueuedAtMillis
        self.body = body
    }

    enum CodingKeys: String, CodingKey {
        case messageID = "message_id", key, queue, attempt, epoch, enqueuedAtMillis = "enqueued_at_ms", body
    }

    /// This delivery as a fence (`message:<queue>/<message id>` at `epoch`): pass it to
    /// `pool.transaction(fencedBy: record.fence) { db in ... }` (TMLocks) for the record's writes.
    public var fence: MessageFence { MessageFence(queue: queue, messageID: messageID, epoch: epoch) }

    /// Decodes the body; a body that does not fit `T` is a `RecordRejected` naming the field, so
    /// the runtime reports it as a non-retryable failure of this record only.
    public func decode<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        do {
            return try decoder.decode(T.self, from: Data(body.utf8))
        } catch let error as DecodingError {
            throw RecordRejected(DecodingErrorText.describe(error, root: "(body)"))
        }
    }
}

/// One invocation as the dispatcher sends it: on stdin for a cold process (one JSON document), or
/// as one line for a warm process. The same values are in the environment of a cold process
/// (`TM_INVOCATION_ID`, `TM_FUNCTION`, `TM_DEADLINE_MS`, `TM_ATTEMPT`).
public struct InvocationRequest: Codable, Sendable, Equatable {
    public var invocationID: String
    public var function: String
    /// The highest attempt among the records (1 for a first try).
    public var attempt: Int
    /// Unix milliseconds after which the dispatcher sends SIGTERM.
    public var deadlineMillis: Int64
    public var records: [InvocationRecord]

    public init(invocationID: String, function: String, attempt: Int, deadlineMillis: Int64, records: [InvocationRecord]) {
        self.invocationID = invocationID
        self.function = function
        self.attempt = attempt
        self.deadlineMillis = deadlineMillis
        self.records = records
    }

    enum CodingKeys: String, CodingKey {
        case invocationID = "invocation_id", function, attempt, deadlineMillis = "deadline_ms", records
    }

    /// The request as one line of JSON (no newline inside: bodies are escaped strings), with "\n":
    /// the bytes `InvocationWire.encoder` writes, written by hand (`InvocationRequestWire`).
    public func encodedLine() throws -> [UInt8] {
        var bytes = InvocationRequestWire.encode(self)
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Reads a request line (or a cold process's stdin) as `JSONDecoder` does: the common shape by
    /// hand, anything else, and every refusal with its reason, by `JSONDecoder`.
    public init(line: [UInt8]) throws {
        if let request = InvocationRequestWire.decode(line) {
            self = request
        } else {
            self = try JSONDecoder().decode(InvocationRequest.self, from: Data(line))
        }
    }

    public var deadline: Date { Date(timeIntervalSince1970: Double(deadlineMillis) / 1000) }
}

/// A record's body is unusable (bad JSON, a field missing or out of range): no retry can fix it,
/// so the record fails at once, non-retryably, and is dead-lettered with this reason.
public struct RecordRejected: RetryClassifying, CustomStringConvertible, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var isRetryable: Bool { false }
    public var description: String { reason }
}

/// Shared encoding rules of the invocation protocol.
public enum InvocationWire {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
