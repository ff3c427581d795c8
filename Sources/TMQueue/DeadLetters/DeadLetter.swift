import Foundation
import TMCore
import TMRedis

/// One dead-lettered message as an operator sees it: where it sits, what it carried and every
/// attempt that failed.
///
/// Guarantees: `id` (`<queue>.<shard>/<stream id>`) names exactly one DLQ entry and carries
/// everything needed to find it again (`tm dlq show ID` needs no queue); `payload` is the bytes the
/// producer enqueued, unchanged.
public struct DeadLetter: Sendable, Hashable {
    /// The dead-letter entry: `<queue>.<shard>/<stream id>`, e.g. `orders.3/1714000000000-0`.
    public var id: String { DeadLetterID(queue: queue, shard: shard, streamID: streamID).description }
    public let queue: String
    public let shard: Int
    /// The entry id in the shard's DLQ stream.
    public let streamID: String
    /// The message id: stable across retries, dead-lettering and replays.
    public let messageID: String
    /// The idempotency key, or nil when the message had none.
    public let key: String?
    public let payload: [UInt8]
    /// Handler attempts made (the length of the history, or the recorded count for older entries).
    public let attempts: Int
    public let enqueuedAt: Date
    public let deadAt: Date
    /// Why it was dead-lettered: `exhausted` (max_deliveries reached), `non_retryable`, `invalid`
    /// (the handler rejected the message), `malformed` (not JSON, or not written by a tm producer), `crash`.
    public let reason: String
    /// The last error.
    public let error: String
    /// Every failed attempt, oldest first.
    public let history: [AttemptRecord]

    public init(
        queue: String, shard: Int, streamID: String, messageID: String, key: String?, payload: [UInt8], attempts: Int,
        enqueuedAt: Date, deadAt: Date, reason: String, error: String, history: [AttemptRecord]
    ) {
        self.queue = queue
        self.shard = shard
        self.streamID = streamID
        self.messageID = messageID
        self.key = key
        self.payload = payload
        self.attempts = attempts
        self.enqueuedAt = enqueuedAt
        self.deadAt = deadAt
        self.reason = reason
        self.error = error
        self.history = history
    }

    /// The payload as text (payloads are JSON, so UTF-8).
    public var payloadText: String { String(decoding: payload, as: UTF8.self) }

    /// The dead letter as a JSON object for `--json` and `export`. The payload is embedded as JSON
    /// when it parses (so a notebook can read its fields, numbers exactly as sent), else as a string.
    public var json: JSONValue {
        let history: [JSONValue] = history.map { record in
            .object([
                ("attempt", .number(String(record.attempt))), ("at", .string(Self.iso(record.date))),
                ("consumer", .string(record.consumer)), ("kind", .string(record.kind.rawValue)), ("error", .string(record.error)),
            ])
        }
        return .object([
            ("id", .string(id)), ("queue", .string(queue)), ("shard", .number(String(shard))), ("stream_id", .string(streamID)),
            ("message_id", .string(messageID)), ("key", key.map(JSONValue.string) ?? .null),
            ("attempts", .number(String(attempts))), ("reason", .string(reason)), ("error", .string(error)),
            ("enqueued_at", .string(Self.iso(enqueuedAt))), ("dead_at", .string(Self.iso(deadAt))),
            ("history", .array(history)),
            ("payload", (try? JSONValue.parse(payload)) ?? .string(payloadText)),
        ])
    }

    /// One line of JSON (no newline inside).
    public var jsonLine: String { json.text }

    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// Rebuilds a dead letter from a DLQ stream entry (the fields `QueueScripts.deadLetter` writes).
    init(queue: String, shard: Int, streamID: String, fields: [RedisValue]) {
        var map: [String: RedisValue] = [:]
        var i = 0
        while i + 1 < fields.count {
            if let name = fields[i].string { map[name] = fields[i + 1] }
            i += 2
        }
        func text(_ name: String) -> String { map[name]?.string ?? "" }
        func millis(_ name: String) -> Date? {
            Int64(text(name)).flatMap { $0 > 0 ? Date(timeIntervalSince1970: Double($0) / 1000) : nil }
        }
        var history: [AttemptRecord] = []
        if let bytes = map["history"]?.bytes, !bytes.isEmpty {
            history = (try? JSONDecoder().decode([AttemptRecord].self, from: Data(bytes))) ?? []
        }
        // The stream id's time part is when the entry was written: a fallback for a missing dead_at.
        let written = Int64(streamID.split(separator: "-").first ?? "").map { Date(timeIntervalSince1970: Double($0) / 1000) }
        let key = text("key")
        self.init(
            queue: queue, shard: shard, streamID: streamID, messageID: text("id"), key: key.isEmpty ? nil : key,
            payload: map["payload"]?.bytes ?? [], attempts: max(history.filter { $0.kind != .deferred }.count, Int(text("attempt")) ?? 0),
            enqueuedAt: millis("enqueued_at") ?? written ?? Date(timeIntervalSince1970: 0),
            deadAt: millis("dead_at") ?? written ?? Date(timeIntervalSince1970: 0),
            reason: text("reason"), error: text("error").isEmpty ? (history.last?.error ?? "") : text("error"), history: history)
    }
}

/// The name of one DLQ entry, `<queue>.<shard>/<stream id>`, mirroring the hash tag of its keys.
///
/// Guarantees: `parse(description)` gives back the same id; text that is not in this form parses
/// to nil (it may be a message id instead).
public struct DeadLetterID: Sendable, Hashable, CustomStringConvertible {
    public let queue: String
    public let shard: Int
    public let streamID: String

    public init(queue: String, shard: Int, streamID: String) {
        self.queue = queue
        self.shard = shard
        self.streamID = streamID
    }

    public var description: String { "\(queue).\(shard)/\(streamID)" }

    /// Parses `<queue>.<shard>/<ms>-<seq>`; `<shard>/<ms>-<seq>` is accepted when `queue` is known.
    public static func parse(_ text: String, queue defaultQueue: String? = nil) -> DeadLetterID? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, isStreamID(parts[1]) else { return nil }
        let head = parts[0]
        let queue: Substring
        let shardText: Substring
        if let dot = head.lastIndex(of: ".") {
            queue = head[..<dot]
            shardText = head[head.index(after: dot)...]
        } else if let defaultQueue {
            queue = Substring(defaultQueue)
            shardText = head
        } else {
            return nil
        }
        guard !queue.isEmpty, let shard = Int(shardText), shard >= 0 else { return nil }
        return DeadLetterID(queue: String(queue), shard: shard, streamID: String(parts[1]))
    }

    static func isStreamID(_ text: Substring) -> Bool {
        let halves = text.split(separator: "-", omittingEmptySubsequences: false)
        return halves.count == 2 && halves.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && UInt64($0) != nil }
    }
}
