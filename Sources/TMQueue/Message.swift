import Foundation
import TMRedis

/// One failed attempt at a message, kept with it through retries and into the dead-letter queue.
public struct AttemptRecord: Codable, Sendable, Hashable {
    /// Why the attempt ended: the handler threw (`error`), refused the message for good
    /// (`non_retryable`), the payload was unusable (`malformed`), the consumer vanished
    /// mid-handler and the message was reclaimed too often (`crash`), or the handler did nothing
    /// and asked to run again later (`deferred`, `RetryDeferring`: not a failed attempt, so
    /// `attempt` does not move; consecutive deferrals of one attempt share one record).
    public enum Kind: String, Codable, Sendable { case error, nonRetryable = "non_retryable", malformed, crash, deferred }

    /// Milliseconds since 1970 (UTC).
    public var at: Int64
    public var consumer: String
    public var attempt: Int
    public var kind: Kind
    public var error: String
    /// A `deferred` record: how many deferrals it stands for, and when the first of them was (ms
    /// since 1970). The message's deferral budget (`max_deferral`) runs from its first deferral.
    public var deferrals: Int?
    public var deferredSince: Int64?

    public init(at: Int64, consumer: String, attempt: Int, kind: Kind, error: String, deferrals: Int? = nil, deferredSince: Int64? = nil) {
        self.at = at
        self.consumer = consumer
        self.attempt = attempt
        self.kind = kind
        self.deferrals = deferrals
        self.deferredSince = deferredSince
        // Keep dead letters readable and bounded: a stack trace is not an error message.
        self.error = error.count > 1000 ? String(error.prefix(1000)) + "…" : error
    }

    public var date: Date { Date(timeIntervalSince1970: Double(at) / 1000) }

    /// A history as stored in stream entries, delayed members and dead letters: JSON built by the
    /// encoder, so any consumer name or error text (quotes, backslashes) reads back as written.
    static func json(_ history: [AttemptRecord]) -> String {
        guard !history.isEmpty, let data = try? JSONEncoder().encode(history) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The fields a message carries in its stream entry, its delayed-set member and its dead letter.
struct MessageEnvelope: Sendable {
    var id: String
    var key: String
    var payload: [UInt8]
    /// Handler attempts that already failed (0 for a new message).
    var failedAttempts: Int
    var enqueuedAt: Int64
    var history: [AttemptRecord]

    var historyJSON: String { AttemptRecord.json(history) }

    /// Rebuilds an envelope from the field/value pairs of a stream entry.
    /// (A field named twice: the last one counts. The names are matched as bytes, one pass, no
    /// dictionary and no text per name: every message read goes through here.)
    init(fields: [RedisValue]) throws {
        var found = Fields()
        var i = 0
        while i + 1 < fields.count {
            // No field name is a number, so an integer name (never sent) matches nothing.
            if let name = fields[i].bytes { found.take(name, fields[i + 1]) }
            i += 2
        }
        guard let id = found.id?.string else { throw EnvelopeError.missingField("id") }
        self.id = id
        self.key = found.key?.string ?? ""
        self.payload = found.payload?.bytes ?? []
        self.failedAttempts = Int(found.attempt?.string ?? "0") ?? 0
        self.enqueuedAt = Int64(found.enqueuedAt?.string ?? "0") ?? 0
        // Most messages have no failed attempts: skip the decoder for the empty history.
        if let text = found.history?.bytes, !text.isEmpty, text != Array("[]".utf8) {
            self.history = (try? JSONDecoder().decode([AttemptRecord].self, from: Data(text))) ?? []
        } else {
            self.history = []
        }
    }

    /// The envelope's fields of one stream entry, as found (the last of a repeated name).
    private struct Fields {
        var id, key, payload, attempt, enqueuedAt, history: RedisValue?

        mutating func take(_ name: [UInt8], _ value: RedisValue) {
            switch name {
            case Names.id: id = value
            case Names.key: key = value
            case Names.payload: payload = value
            case Names.attempt: attempt = value
            case Names.enqueuedAt: enqueuedAt = value
            case Names.history: history = value
            default: break
            }
        }
    }

    private enum Names {
        static let id = Array("id".utf8), key = Array("key".utf8), payload = Array("payload".utf8), attempt = Array("attempt".utf8)
        static let enqueuedAt = Array("enqueued_at".utf8), history = Array("history".utf8)
    }

    init(id: String, key: String, payload: [UInt8], failedAttempts: Int, enqueuedAt: Int64, history: [AttemptRecord]) {
        self.id = id
        self.key = key
        self.payload = payload
        self.failedAttempts = failedAttempts
        self.enqueuedAt = enqueuedAt
        self.history = history
    }

    enum EnvelopeError: Error, CustomStringConvertible {
        case missingField(String)
        var description: String {
            switch self { case .missingField(let name): return "stream entry without the '\(name)' field" }
        }
    }
}

/// Milliseconds since 1970, the time unit of every queue script: the wall clock rounded DOWN, so a
/// "due by now" comparison (a delayed member's score ≤ now) never runs ahead of the clock.
func nowMillis() -> Int64 { QueueClockReading.now().millis }

/// One reading of the wall clock, kept to the nanosecond, in the queue's time unit. A due time is
/// rounded UP (`due(after:)`) and "now" DOWN (`millis`): a message due at d is promoted by a reading
/// t only when d ≤ floor(t) ≤ t, and d ≥ the reading it was scheduled at + its delay — so it is
/// never handed out before its delay has passed by the clock that scheduled it (the same host's
/// wall clock; another host's is off by as much as the two clocks are apart). Every due time of a
/// delayed enqueue, a retry and a deferral is computed here.
struct QueueClockReading: Sendable {
    let nanosecondsSince1970: Int64

    static func now() -> QueueClockReading {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return QueueClockReading(nanosecondsSince1970: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
    }

    /// Whole milliseconds, rounded down (stamps, ids, the promoting comparison).
    var millis: Int64 { Self.millis(roundingDown: nanosecondsSince1970) }

    /// The due time `delay` after this reading, in whole milliseconds rounded UP; no delay is due now
    /// (`millis`: a message without a delay goes straight onto the stream). A delay too long to
    /// count in nanoseconds is due at the end of time.
    func due(after delay: Duration) -> Int64 {
        guard delay > .zero else { return millis }
        let (seconds, attoseconds) = delay.components
        let (wholeNanos, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        // A part of a nanosecond counts as a whole one (up, like the rest).
        let nanos = wholeNanos.addingReportingOverflow((attoseconds + 999_999_999) / 1_000_000_000)
        let (due, late) = nanosecondsSince1970.addingReportingOverflow(nanos.partialValue)
        guard !overflow, !nanos.overflow, !late else { return Int64.max / 1_000_000 }
        return -Self.millis(roundingDown: -due)
    }

    private static func millis(roundingDown nanos: Int64) -> Int64 {
        nanos >= 0 ? nanos / 1_000_000 : -((-nanos + 999_999) / 1_000_000)
    }
}
