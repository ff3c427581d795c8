import TMQueue

/// The text form of an outbox batch row (`trade_event_outbox.batch`, migration 0035; written by the
/// order path's `OrderStore`): one line per message, in order, each `<event_key>\t<payload>`, lines
/// joined by `\n`. Neither byte occurs raw in an event key or in compact JSON, so the split is exact;
/// the payloads are sent as they are stored.
enum OutboxTextBatch {
    /// A line without its tab, or an empty batch, is not this form.
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    /// The batch's messages, in order.
    static func messages(_ batch: String) throws -> [OutgoingMessage] {
        var messages: [OutgoingMessage] = []
        for line in batch.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            guard let tab = line.firstIndex(of: UInt8(ascii: "\t")), tab != line.startIndex else {
                throw Malformed(description: "an outbox text batch has a line without its key (message \(messages.count + 1))")
            }
            messages.append(OutgoingMessage(payload: Array(line[line.index(after: tab)...]), key: String(decoding: line[..<tab], as: UTF8.self)))
        }
        return messages
    }
}
