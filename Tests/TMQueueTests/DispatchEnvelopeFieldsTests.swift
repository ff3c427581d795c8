import Foundation
import Testing
import TMRedis
@testable import TMQueue

/// A stream entry's fields read into a message (`MessageEnvelope(fields:)`, matched by name as
/// bytes since session 18): the same verdicts as the dictionary it replaced — fields in any order,
/// the last of a repeated field counts, unknown fields are ignored, and an entry without `id` is
/// not ours (the consumer dead-letters it as foreign).
@Suite struct DispatchEnvelopeFieldsTests {
    static func bulk(_ text: String) -> RedisValue { .bulk(Array(text.utf8)) }

    @Test func everyFieldIsReadWhateverItsPlace() throws {
        let fields: [RedisValue] = [
            Self.bulk("history"), Self.bulk(#"[{"at":5,"consumer":"c","attempt":1,"kind":"error","error":"boom"}]"#),
            Self.bulk("enqueued_at"), Self.bulk("1700000000123"), Self.bulk("extra"), Self.bulk("ignored"),
            Self.bulk("payload"), Self.bulk(#"{"n":1}"#), Self.bulk("attempt"), Self.bulk("2"),
            Self.bulk("key"), Self.bulk("account-7"), Self.bulk("id"), Self.bulk("m-1"),
        ]
        let envelope = try MessageEnvelope(fields: fields)
        #expect(envelope.id == "m-1")
        #expect(envelope.key == "account-7")
        #expect(envelope.payload == Array(#"{"n":1}"#.utf8))
        #expect(envelope.failedAttempts == 2)
        #expect(envelope.enqueuedAt == 1_700_000_000_123)
        #expect(envelope.history == [AttemptRecord(at: 5, consumer: "c", attempt: 1, kind: .error, error: "boom")])
    }

    @Test func theLastOfARepeatedFieldCountsAndAbsentOnesTakeTheirDefaults() throws {
        let envelope = try MessageEnvelope(fields: [
            Self.bulk("id"), Self.bulk("first"), .simple("payload"), Self.bulk("[1]"), Self.bulk("id"), Self.bulk("second"),
        ])
        #expect(envelope.id == "second")
        #expect(envelope.payload == Array("[1]".utf8))
        #expect(envelope.key == "")
        #expect(envelope.failedAttempts == 0)
        #expect(envelope.enqueuedAt == 0)
        #expect(envelope.history.isEmpty)
    }

    @Test func anEntryWithoutAnIdIsRefused() {
        #expect(throws: MessageEnvelope.EnvelopeError.self) {
            try MessageEnvelope(fields: [Self.bulk("payload"), Self.bulk("{}"), Self.bulk("ids"), Self.bulk("x"), Self.bulk("i"), Self.bulk("y")])
        }
    }
}
