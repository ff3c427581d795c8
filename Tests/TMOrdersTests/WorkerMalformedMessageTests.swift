import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMQueue
import TMRedis

/// Malformed messages that reach the `orders` queue anyway (written by something other than the
/// intake) are dead-lettered by the running order-worker with the field and the reason, on their
/// first attempt; the worker goes on, and the next order of the same shard is placed.
@Suite(.serialized) struct WorkerMalformedMessageTests {
    @Test func malformedMessagesAreDeadLetteredWithTheReasonAndTheShardGoesOn() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.synced()
        let kite = try #require(h.accounts[.kite]).uuidString.lowercased()
        let w = try await RunningWorker(h)
        defer { w.stop() }

        let malformed: [(payload: String, field: String)] = [
            ("[1,2]", "message"),
            (#"{"kind":"place","account_id":"\#(kite)","symbol":"INFY"}"#, "idempotency_key"),
            (#"{"kind":"place","idempotency_key":"bad-side","account_id":"\#(kite)","symbol":"INFY","exchange":"NSE","side":"hold","quantity":"1","type":"market"}"#, "side"),
        ]
        for (index, message) in malformed.enumerated() {
            try await w.enqueue(Array(message.payload.utf8), key: "malformed-\(index)", shardKey: kite)
        }
        try await w.enqueue(h.place(.kite, key: "after-malformed"), key: "after-malformed")
        try await eventually("the order after the malformed messages to be accepted", within: .seconds(60)) {
            (try? h.state(key: "after-malformed")) == "ACCEPTED"
        }

        let dead = DeadLetterQueue(redis: h.redis, manifest: w.manifest)
        try await eventually("every malformed message to be dead-lettered", within: .seconds(60)) { (try await dead.list().count) == malformed.count }
        for message in malformed {
            let letter = try #require(try await dead.list().first { $0.payloadText == message.payload })
            #expect(letter.attempts == 1, "\(letter.id) was retried")
            #expect(letter.error.hasPrefix(message.field + ":"), "\(letter.error)")
        }
        #expect(try h.db.query("SELECT count(*) AS n FROM orders WHERE idempotency_key = 'bad-side'").rows[0].decode("n", as: Int.self) == 0)
    }
}
