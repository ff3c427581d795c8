import Testing
import TMCore
@testable import TMQueue

/// The texts a settle sends, built without intermediate values: a keyed message's `done` record is
/// the JSON text `JSONValue.object` gives for its members, byte for byte, whatever the id and the
/// result hold; a shard's key names are the ones its hash tag and suffixes spell, and two `QueueKeys`
/// are equal exactly when their queue and shard are.
@Suite struct SettleTextTests {
    static let texts = [
        "", "m1", "plain result", #"{"state":"ACCEPTED","id":"5f0c"}"#, "quote \" backslash \\ slash /",
        "line\nreturn\rtab\t", "controls \u{0}\u{1}\u{1f}\u{7f}", "ünïcödé — ✓ 𝄞", String(repeating: "x\"", count: 300),
    ]

    @Test func theDoneRecordIsTheObjectsTextByteForByte() throws {
        for id in Self.texts.filter({ !$0.isEmpty }) {
            for result in Self.texts {
                let now: Int64 = 1_700_000_000_123
                let arguments = QueueScripts.completeArguments(streamID: "1-1", id: id, epoch: 3, keyed: true, result: result, now: now, ttlMillis: 60_000)
                var members: [(key: String, value: JSONValue)] = [("id", .string(id)), ("state", .string("done")), ("at", .number(String(now)))]
                if !result.isEmpty { members.append(("result", .string(result))) }
                let record = try #require(arguments[3] as? String)
                #expect(Array(record.utf8) == Array(JSONValue.object(members).text.utf8), "id \(id.debugDescription), result \(result.debugDescription)")
                #expect(arguments[0] as? String == "1-1" && arguments[1] as? String == id && arguments[2] as? Int64 == 3 && arguments[4] as? Int64 == 60_000)
            }
        }
        let unkeyed = QueueScripts.completeArguments(streamID: "1-1", id: "m1", epoch: 3, keyed: false, result: "r", now: 1, ttlMillis: 5)
        #expect(unkeyed[3] as? String == "")
    }

    @Test func keyNamesAreTheHashTagAndTheSuffix() {
        for (queue, shard) in [("orders", 0), ("orders", 7), ("trade-events", 12), ("q", 1234)] {
            let keys = QueueKeys(queue: queue, shard: shard)
            let tag = "tm:{\(queue).\(shard)}:"
            #expect(keys.stream == tag + "stream" && keys.delayed == tag + "delayed" && keys.wake == tag + "wake")
            #expect(keys.deadLetters == tag + "dlq" && keys.epochs == tag + "epochs" && keys.watched == tag + "watched")
            #expect(keys.idempotency("order:42") == tag + "idem:order:42" && keys.idempotency("") == tag + "idem:")
        }
    }

    @Test func keysAreEqualExactlyWhenQueueAndShardAre() {
        let keys = QueueKeys(queue: "orders", shard: 3)
        #expect(keys == QueueKeys(queue: "orders", shard: 3))
        #expect(keys != QueueKeys(queue: "orders", shard: 4))
        #expect(keys != QueueKeys(queue: "orders2", shard: 3))
        let set: Set<QueueKeys> = [keys, QueueKeys(queue: "orders", shard: 3), QueueKeys(queue: "orders", shard: 4)]
        #expect(set.count == 2)
    }

    /// Two spellings Swift's `String ==` holds equal name different Redis keys: equal `QueueKeys` must
    /// name the same bytes (the settles of one target are sent against the first one's keys).
    @Test func canonicallyEqualQueueNamesAreDifferentKeys() {
        let composed = QueueKeys(queue: "caf\u{e9}", shard: 0)
        let decomposed = QueueKeys(queue: "cafe\u{301}", shard: 0)
        #expect(composed.queue == decomposed.queue)  // Swift's view
        #expect(!composed.stream.utf8.elementsEqual(decomposed.stream.utf8))  // Redis's view
        #expect(composed != decomposed)
        #expect(Set([composed, decomposed, QueueKeys(queue: "caf\u{e9}", shard: 0)]).count == 2)
    }
}
