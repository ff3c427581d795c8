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
        var messages: [OutgoingMessage] = []
        for line in batch.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            guard let tab = line.firstIndex(of: UInt8(ascii: "\t")), tab != line.startIndex else {
                throw Malformed(description: "trade_event_outbox row \(row): line \(messages.count + 1) of its batch has no key (each line is <event_key>\\t<payload>)")
            }
            messages.append(OutgoingMessage(payload: Array(line[line.index(after: tab)...]), key: String(decoding: line[..<tab], as: UTF8.self)))
        }
        return messages
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
