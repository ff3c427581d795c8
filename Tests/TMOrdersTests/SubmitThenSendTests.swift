import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMLocks
@testable import TMOrders
import TMPostgres

/// The order between a placement's SUBMITTING commit and its broker call, against real Postgres and
/// broker-sim — what any hand-off of the call from the commit (PROFILE.md, session 25 lane: the
/// commit → broker lane chaining) must keep: a commit that fails at its end (the server's COMMIT,
/// after every statement succeeded) reaches no broker; the shard-ownership check runs after the
/// commit and before the call, and a lost shard sends nothing while the committed SUBMITTING row
/// waits for the owner's look-up; a cancelled handler places the order through, as today.
@Suite(.serialized) struct SubmitThenSendTests {
    struct ShardMoved: Error {}

    /// Another connection, for reading what is committed while the placement runs.
    final class Probe: @unchecked Sendable {
        let db: PostgresConnection
        init(_ db: PostgresConnection) { self.db = db }
        func state(key: String) throws -> String? {
            try db.query("SELECT state FROM orders WHERE idempotency_key = \(key)").rows.first?.decode("state")
        }
    }

    /// Every statement of the SUBMITTING write succeeds and the COMMIT fails (a deferred constraint
    /// trigger raising at the commit): the placement fails, nothing is committed, broker-sim got no
    /// order; once the commit can succeed the order is placed once.
    @Test func aSubmittingWriteWhoseCommitFailsReachesNoBroker() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        try h.db.simpleQuery("""
            CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'P0001'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON orders DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (NEW.idempotency_key = 'commit-fails') EXECUTE FUNCTION refuse_at_commit();
            """)
        let placer = h.placer()
        let message = UUID().uuidString
        let refused = await #expect(throws: PostgresError.self) {
            _ = try await placer.handle(h.place(.kite, key: "commit-fails"), fences: PlacementHarness.delivery(message))
        }
        #expect(refused?.sqlState == "P0001", "the commit's own refusal")
        #expect(throws: PlacementHarness.NoRow.self, "nothing committed") { try h.row(key: "commit-fails") }
        #expect(try h.brokerOrderCounts(.kite).isEmpty, "no broker order")
        try h.db.simpleQuery("DROP TRIGGER refuse_at_commit ON orders")
        let placed = try await placer.handle(h.place(.kite, key: "commit-fails"), fences: PlacementHarness.delivery(message, epoch: 2))
        #expect(placed.state == .accepted)
        #expect(try h.brokerOrderCounts(.kite).count == 1 && h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 })
    }

    /// The shard moves to another worker between the SUBMITTING commit and the broker call: the check
    /// runs once, after the commit (the row is SUBMITTING to another connection, broker-sim has
    /// nothing), its error is the placement's, nothing is sent and the row stays SUBMITTING. The
    /// owner's redelivery looks it up, finds nothing, and once the resend window has passed sends it: one
    /// broker order.
    @Test func aShardLostAfterTheSubmittingCommitSendsNothing() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer(resendAfter: .seconds(30))
        let probe = Probe(try h.database.connect())
        defer { probe.db.close() }
        let seen = Locked<[String]>([])
        let message = UUID().uuidString
        let lost = PlacementFences(fences: [MessageFence(queue: "orders", messageID: message, epoch: 1)], ownership: {
            let state = try probe.state(key: "shard-lost") ?? "no row"
            let atBroker = try h.brokerOrderCounts(.kite).count
            seen.withLock { $0.append("\(state), \(atBroker) at the broker") }
            throw ShardMoved()
        })
        await #expect(throws: ShardMoved.self) { _ = try await placer.handle(h.place(.kite, key: "shard-lost"), fences: lost) }
        #expect(seen.withLock { $0 } == ["SUBMITTING, 0 at the broker"], "checked once, after the commit, before any call")
        #expect(try h.brokerOrderCounts(.kite).isEmpty, "nothing sent")
        #expect(try h.state(key: "shard-lost") == "SUBMITTING")
        #expect(try h.events(key: "shard-lost") == ["->RECEIVED", "RECEIVED>ROUTED", "ROUTED>SUBMITTING"])
        h.clock.advance(.seconds(31))
        let owner = try await placer.handle(h.place(.kite, key: "shard-lost"), fences: PlacementHarness.delivery(message, epoch: 2))
        #expect(owner.state == .accepted)
        #expect(try h.brokerOrderCounts(.kite).count == 1 && h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 }, "sent once, by the owner")
    }
    /// A handler whose task is cancelled (the worker stopping) runs its placement through as an
    /// uncancelled one does: nothing on the path from the SUBMITTING commit to the broker's answer
    /// watches cancellation, so the order is not left SUBMITTING by it — ACCEPTED, one broker order.
    @Test func aCancelledHandlerPlacesTheOrderThroughAsToday() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let placer = h.placer()
        let payload = h.place(.kite, key: "cancelled-handler")
        let handler = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return (Task.isCancelled, try await placer.handle(payload, fences: PlacementHarness.delivery()))
        }
        let (wasCancelled, placed) = try await handler.value
        #expect(wasCancelled)
        #expect(placed.state == .accepted)
        #expect(try h.state(key: "cancelled-handler") == "ACCEPTED")
        #expect(try h.brokerOrderCounts(.kite).count == 1 && h.brokerOrderCounts(.kite).values.allSatisfy { $0 == 1 })
    }
}
