import Testing
import TMQueue
@testable import TMSync

/// `OutboxTextBatch.messages`, the relay's reading of a text batch row (migration 0035) into its
/// messages: every line `<event_key>\t<payload>` is one message, in order, its payload byte for
/// byte as stored; a line that is not in the form refuses the whole row, naming the row and the
/// line (never the payload). No servers: the split is the guarantee; the relay around it is
/// `OutboxTextBatchTests`'s.
@Suite struct OutboxTextBatchLinesTests {
    private func refusal(_ batch: String, row: Int64 = 7) -> String? {
        do {
            _ = try OutboxTextBatch.messages(batch, row: row)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func eachLineIsOneMessageInOrderWithItsPayloadAsStored() throws {
        let payloads = [
            #"{"event":"order.state","to":"RECEIVED","note":"a\ttab and a \nline, escaped"}"#,
            #"{"symbol":"RELIANCE","price":"₹2,450.05","name":"Zoë"}"#,
            "{}",
        ]
        let keys = ["order:a:1", "order:é:2", "order:a:3"]
        let batch = zip(keys, payloads).map { "\($0)\t\($1)" }.joined(separator: "\n")
        let messages = try OutboxTextBatch.messages(batch, row: 1)
        #expect(messages.map(\.key) == keys)
        #expect(messages.map(\.payload) == payloads.map { Array($0.utf8) }, "byte for byte: no separator kept, none cut")
        #expect(messages.allSatisfy { $0.delay == nil && $0.id == nil && $0.shardKey == nil })
    }

    @Test func aLoneLineAndAnEmptyPayloadAreMessages() throws {
        #expect(try OutboxTextBatch.messages("order:x:1\t{\"n\":1}", row: 1).map(\.key) == ["order:x:1"])
        let empty = try OutboxTextBatch.messages("order:x:1\t\norder:x:2\t{}", row: 1)
        #expect(empty.map(\.payload) == [[], Array("{}".utf8)], "the tab ends the key; what follows, even nothing, is the payload")
    }

    /// A key is looked for inside its own line only: a keyless line is refused even when a later
    /// line has a tab, and the line named is the one without its key.
    @Test func aLineWithoutItsKeyRefusesTheRowNamingTheLine() {
        #expect(refusal("order:m:1\t{}\n{\"no\":\"key\"}\norder:m:3\t{}")?.contains("trade_event_outbox row 7: line 2 of its batch has no key") == true)
        #expect(refusal("order:m:1\t{}\n\torder-without-key")?.contains("row 7: line 2 ") == true, "a line starting with its tab has no key")
        #expect(refusal("order:m:1\t{}\n\norder:m:3\t{}")?.contains("row 7: line 2 ") == true, "an empty line in between")
        #expect(refusal("order:m:1\t{}\norder:m:2\t{}\n")?.contains("row 7: line 3 ") == true, "a trailing newline is an empty last line")
        #expect(refusal("", row: 9)?.contains("row 9: line 1 ") == true, "an empty batch")
        #expect(refusal("{\"secret\":\"payload\"}")?.contains("secret") == false, "the reason never carries the payload")
    }
}
