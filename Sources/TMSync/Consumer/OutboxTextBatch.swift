import Foundation
import TMQueue

/// The text form of an outbox batch row (`trade_event_outbox.batch`, migration 0035; written by the
/// order path's `OrderStore`): one line per message, in order, each `<event_key>\t<payload>`, lines
/// joined by `\n`. Neither byte occurs raw in an event key or in compact JSON, so the split is exact;
/// the payloads are sent as they are stored.
enum OutboxTextBatch {
    /// A line without its tab, or an empty batch, is not this form. Its description names the row
    /// and the line, never the payload (which may name what a trader does).
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The messages of outbox row `row`'s batch, in order; a malformed line is refused naming the row
    /// and the line, so an operator can find the row that holds the relay up.
    static func messages(_ batch: String, row: Int64) throws -> [OutgoingMessage] {
        var batch = batch
        return try batch.withUTF8 { try messages(bytes: $0, row: row) }
    }

    /// `messages` over the batch's UTF-8 bytes: a line's end found by one `memchr` for `\n`, its key's
    /// by one for `\t`, the payload copied once into its message — no array of lines, no slice per
    /// line (the generic `split` over a `String.UTF8View` was ~1.2% of the order bench's CPU at
    /// 1,000/s: PROFILE.md, "Session 27 (relay)").
    static func messages(bytes: UnsafeBufferPointer<UInt8>, row: Int64) throws -> [OutgoingMessage] {
        var messages: [OutgoingMessage] = []
        // An empty batch is one empty line: refused as line 1 without its key.
        guard let base = bytes.baseAddress else { throw noKey(row: row, line: 1) }
        var start = 0
        while true {
            let end = offset(of: UInt8(ascii: "\n"), in: base, from: start, to: bytes.count) ?? bytes.count
            guard let tab = offset(of: UInt8(ascii: "\t"), in: base, from: start, to: end), tab != start else {
                throw noKey(row: row, line: messages.count + 1)
            }
            messages.append(OutgoingMessage(payload: Array(UnsafeBufferPointer(start: base + tab + 1, count: end - tab - 1)),
                                            key: String(decoding: UnsafeBufferPointer(start: base + start, count: tab - start), as: UTF8.self)))
            if end == bytes.count { return messages }
            start = end + 1
        }
    }

    private static func noKey(row: Int64, line: Int) -> Malformed {
        Malformed(description: "trade_event_outbox row \(row): line \(line) of its batch has no key (each line is <event_key>\\t<payload>)")
    }

    /// Where the first `byte` in `base[from..<to]` is, or nil.
    private static func offset(of byte: UInt8, in base: UnsafePointer<UInt8>, from: Int, to: Int) -> Int? {
        guard from < to, let found = memchr(base + from, Int32(byte), to - from) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    /// The message `line` of a row in jsonb form (a single event, or a 0028 batch's pair), refused
    /// naming the row and the message when it has no key or no payload.
    static func message(key: String?, payload: String?, row: Int64, line: Int) throws -> OutgoingMessage {
        guard let key, let payload else {
            throw Malformed(description: "trade_event_outbox row \(row): message \(line) of its payload has no \(key == nil ? "key" : "payload") (each is [event_key, payload])")
        }
        return OutgoingMessage(payload: Array(payload.utf8), key: key)
    }
}
