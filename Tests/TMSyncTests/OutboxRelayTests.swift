import Foundation
import Logging
import Testing
import TestSupport
@testable import TMSync

/// The trade-events outbox relay, as the order-worker runs it: it publishes all that waits, not one
/// pass's worth per interval, and deletes what it sent.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxRelayTests {
    @Test func aRelayPassesAgainWhileItsPassesComeBackFull() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload)
            SELECT \(f.account), 'trade:relay:' || g, '{"event":"trade.created"}' FROM generate_series(1, 7) g
            """)
        let outbox = try f.consumer().outbox
        let report = await outbox.relay(limit: 3, logger: Logger(label: "test"))
        #expect(report.published == 7 && report.kept == 0 && report.refusal == nil, "\(report)")
        #expect(try await f.streamLength(f.tradeEvents) == 7)
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "what was sent is deleted")
        // Nothing waiting: one pass, nothing sent.
        #expect(await outbox.relay(limit: 3, logger: Logger(label: "test")).published == 0)
    }
}
