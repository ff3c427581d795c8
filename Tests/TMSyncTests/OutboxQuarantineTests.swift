import Foundation
import Logging
import Testing
import TestSupport
import TMPostgres
@testable import TMSync

/// The relay sets an unreadable outbox row aside (migration 0042) instead of stopping on it: every
/// other row is relayed, the rows of its accounts wait behind it in order, and an operator replays
/// the fixed row or drops it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxQuarantineTests {
    private let logger = Logger(label: "test")

    /// A message of `account`, as the order path writes it.
    private static func payload(_ account: UUID, _ key: String) -> String {
        #"{"event":"order.state","account_id":"\#(account.uuidString.lowercased())","n":"\#(key)"}"#
    }

    /// A text batch row of `lines` (each `<key>\t<payload>`, or anything for a malformed one).
    @discardableResult
    private func insertText(_ db: PostgresConnection, _ lines: [String]) throws -> Int64 {
        try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
            VALUES (NULL, \("order-events:" + UUID().uuidString), \(lines.joined(separator: "\n")), \(Int32(lines.count))) RETURNING id
            """).rows[0].decode("id")
    }

    private func line(_ account: UUID, _ key: String) -> String { "\(key)\t\(Self.payload(account, key))" }

    @discardableResult
    private func insertSingle(_ db: PostgresConnection, _ account: UUID, _ key: String) throws -> Int64 {
        try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES (\(account), \(key), \(Self.payload(account, key))::jsonb) RETURNING id
            """).rows[0].decode("id")
    }

    private func addAccount(_ db: PostgresConnection, _ f: SyncFixture, _ label: String) throws -> UUID {
        let id = UUID()
        try db.execute("INSERT INTO broker_accounts (id, user_id, broker, label) VALUES (\(id), \(f.user), 'kite', \(label))")
        return id
    }

    @Test func aMalformedRowIsSetAsideItsAccountsWaitAndEveryOtherRowIsRelayed() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let (a, b, c) = (f.account, try addAccount(db, f, "b"), try addAccount(db, f, "c"))
        try insertText(db, [line(a, "order:q:1"), line(b, "order:q:2")])
        // Its second line lost its key: the whole line is the payload, naming account a.
        let bad = try insertText(db, [line(a, "order:q:3"), Self.payload(a, "order:q:3b")])
        try insertSingle(db, b, "trade:q:4")
        let waitA = try insertText(db, [line(a, "order:q:5")])
        // Held for a: it goes whole, so b's messages in it wait, and b's later row behind them.
        let waitAB = try insertText(db, [line(a, "order:q:6"), line(b, "order:q:7")])
        let waitB = try insertSingle(db, b, "trade:q:8")
        try insertSingle(db, c, "trade:q:9")
        let outbox = try f.consumer().outbox

        let report = await outbox.relay(logger: logger)
        #expect(report.published == 4 && report.refusal == nil && report.quarantined == 1 && report.setAside == 6, "\(report)")
        #expect(try await f.publishedKeys() == ["order:q:1", "order:q:2", "trade:q:4", "trade:q:9"])
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "every row was sent or set aside")

        let rows = try TradeEventOutbox.quarantined(db)
        #expect(rows.map(\.id) == [bad, waitA, waitAB, waitB])
        let quarantined = try #require(rows.first)
        #expect(rows.map(\.state) == ["malformed", "waiting", "waiting", "waiting"])
        #expect(quarantined.reason == "trade_event_outbox row \(bad): line 2 of its batch has no key (each line is <event_key>\\t<payload>)", "\(quarantined.reason)")
        #expect(quarantined.accounts == [a.uuidString.lowercased()] && quarantined.messages == 2)
        #expect(rows.dropFirst().allSatisfy { $0.behind == bad && $0.reason.contains("row \(bad)") }, "\(rows)")

        let status = try TradeEventOutbox.status(db)
        #expect(status.quarantined == 1 && status.waitingBehindQuarantine == 4 && status.waiting == 0, "\(status)")
        let problem = status.problem(threshold: TradeEventOutbox.staleAfter) ?? ""
        #expect(problem.contains("1 trade_event_outbox row(s) quarantined") && problem.contains("row \(bad): line 2")
                && problem.contains("4 trade event(s) of their accounts waiting"), "\(problem)")

        // Later passes: a's and b's new events still wait behind it, c's go.
        try insertSingle(db, a, "trade:q:10")
        try insertSingle(db, c, "trade:q:11")
        let later = await outbox.relay(logger: logger)
        #expect(later.published == 1 && later.quarantined == 0 && later.setAside == 1, "\(later)")
        #expect(try await f.publishedKeys().last == "trade:q:11")

        // Not replayed while it still does not read; then fixed and replayed: it and the waiting rows
        // go out in their order, each once.
        #expect(throws: TradeEventOutbox.QuarantineError.self) { try TradeEventOutbox.replay(db, id: bad) }
        #expect(try TradeEventOutbox.quarantined(db).count == 5, "a refused replay changes nothing")
        // Written before any pass set it aside: the released rows keep their place ahead of it.
        try insertSingle(db, a, "trade:q:12")
        let fixed = [line(a, "order:q:3"), line(a, "order:q:3b")].joined(separator: "\n")
        let release = try TradeEventOutbox.replay(db, id: bad, batch: fixed)
        #expect(release == TradeEventOutbox.Release(messages: 2, counted: 0, released: 4))
        #expect(try TradeEventOutbox.quarantined(db).isEmpty)
        let replayed = await outbox.relay(logger: logger)
        #expect(replayed.published == 8 && replayed.setAside == 0, "\(replayed)")
        let keys = ["order:q:1", "order:q:2", "trade:q:4", "trade:q:9", "trade:q:11",
                    "order:q:3", "order:q:3b", "order:q:5", "order:q:6", "order:q:7", "trade:q:8", "trade:q:10", "trade:q:12"]
        #expect(try await f.publishedKeys() == keys)
        #expect(try TradeEventOutbox.status(db) == TradeEventOutbox.Status(waiting: 0, oldestAgeSeconds: nil, droppedRecently: 0))

        // A crash between the replayed row's send and its delete leaves it: sent again, enqueued once.
        try db.execute("""
            INSERT INTO trade_event_outbox (id, account_id, event_key, batch, messages) OVERRIDING SYSTEM VALUE
            VALUES (\(bad), NULL, \(quarantined.eventKey), \(fixed), 2)
            """)
        let again = await outbox.relay(logger: logger)
        #expect(again.published == 2 && again.refusal == nil, "the row counts as sent and goes: \(again)")
        #expect(try await f.publishedKeys() == keys, "each message is on trade-events once")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0)
    }

    /// A row the queue refuses as it is — a message over trade-events' payload limit — would be
    /// refused at every pass: it is set aside like an unreadable row, no later row of its account
    /// overtakes it (not even in the same script call), and every other row goes in the same pass.
    @Test func aRowTheQueueRefusesAsItIsIsSetAsideAndNothingOvertakesIt() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let (a, b) = (f.account, try addAccount(db, f, "b"))
        let outbox = try f.consumer().outbox
        let limit = try outbox.producer.catalog.manifest(outbox.queue).maxPayloadBytes
        try insertText(db, [line(a, "order:r:1")])
        let oversized = #"{"event":"order.state","account_id":"\#(a.uuidString.lowercased())","pad":"\#(String(repeating: "x", count: limit))"}"#
        let big = try insertText(db, [line(a, "order:r:2"), "order:r:3\t" + oversized])
        let waitA = try insertSingle(db, a, "trade:r:4")
        try insertSingle(db, b, "trade:r:5")

        let report = await outbox.relay(logger: logger)
        #expect(report.refusal == nil && report.published == 2 && report.quarantined == 1 && report.setAside == 3, "\(report)")
        #expect(try await f.publishedKeys() == ["order:r:1", "trade:r:5"])
        let rows = try TradeEventOutbox.quarantined(db)
        #expect(rows.map(\.id) == [big, waitA] && rows.map(\.state) == ["malformed", "waiting"], "\(rows)")
        let reason = rows.first?.reason ?? ""
        #expect(reason.contains("trade_event_outbox row \(big):") && reason.contains("max_payload_bytes"), "\(reason)")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "every row was sent or set aside")

        // The next pass is not held by it: b's new event goes, a's waits behind it.
        try insertSingle(db, b, "trade:r:6")
        try insertSingle(db, a, "trade:r:7")
        let later = await outbox.relay(logger: logger)
        #expect(later.published == 1 && later.setAside == 1 && later.refusal == nil, "\(later)")
        #expect(try await f.publishedKeys() == ["order:r:1", "trade:r:5", "trade:r:6"])
    }

    @Test func aDroppedRowIsCountedAndReleasesTheRowsWaitingBehindIt() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let a = f.account
        let bad = try insertText(db, [line(a, "order:d:1"), Self.payload(a, "order:d:2")])
        try insertSingle(db, a, "trade:d:3")
        let outbox = try f.consumer().outbox
        // Passes of 2: the first sets the bad row aside and counts as full, so the next one runs.
        let report = await outbox.relay(limit: 2, logger: logger)
        #expect(report.published == 0 && report.quarantined == 1 && report.setAside == 3, "\(report)")

        #expect(throws: TradeEventOutbox.QuarantineError.self) { try TradeEventOutbox.drop(db, id: bad + 1) }
        let release = try TradeEventOutbox.drop(db, id: bad)
        #expect(release == TradeEventOutbox.Release(messages: 2, counted: 2, released: 1))
        #expect(try TradeEventOutbox.quarantined(db).isEmpty)
        #expect(try f.count("""
            SELECT coalesce(sum(dropped), 0)::int FROM trade_event_outbox_drops
            WHERE account_id = '\(a)' AND reason LIKE 'dropped by an operator%row \(bad): line 2%'
            """) == 2, "nothing is dropped silently")
        let status = try TradeEventOutbox.status(db)
        #expect(status.quarantined == 0 && status.droppedRecently == 2, "\(status)")

        #expect(await outbox.relay(logger: logger).published == 1)
        #expect(try await f.publishedKeys() == ["trade:d:3"], "the dropped row's events are not sent, the waiting one is")
    }

    /// Two passes read the same rows; the other one set the bad row and its account's later row
    /// aside first. This pass must not send that later row from its own read: it would overtake
    /// the quarantined one (and go out again when the operator releases it).
    @Test func aRowAnotherPassSetAsideIsNotSentFromThisPassesRead() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let bad = try insertText(db, [line(f.account, "order:r:1"), Self.payload(f.account, "order:r:1b")])
        let later = try insertSingle(db, f.account, "trade:r:2")
        let outbox = try f.consumer().outbox
        let reason = [bad: "row \(bad): line 2 has no key"]
        let first = try await outbox.setAside([bad, later], unreadable: reason, logger: logger)
        #expect(first.rows == [bad, later] && first.quarantined == 1)
        // The slower pass, with the same read.
        let second = try await outbox.setAside([bad, later], unreadable: reason, logger: logger)
        #expect(second.rows == [bad, later], "a row already set aside is not the slower pass's to send")
        #expect(second.quarantined == 0)
        #expect(try TradeEventOutbox.quarantined(db).count == 2)
    }

    /// A jsonb batch pair without its key is unreadable too: set aside, not a stop.
    @Test func aJSONBatchPairWithoutItsKeyIsSetAside() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let db = try f.db.connect()
        defer { db.close() }
        let other = try addAccount(db, f, "other")
        let bad: Int64 = try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, payload, messages)
            VALUES (NULL, 'batch:j', \("[[\"order:j:1\", \(Self.payload(f.account, "order:j:1"))], [null, \(Self.payload(f.account, "order:j:2"))]]")::jsonb, 2)
            RETURNING id
            """).rows[0].decode("id")
        try insertSingle(db, other, "trade:j:3")
        let report = await (try f.consumer().outbox).relay(logger: logger)
        #expect(report.published == 1 && report.quarantined == 1, "\(report)")
        #expect(try TradeEventOutbox.quarantined(db).map(\.reason) == ["trade_event_outbox row \(bad): message 2 of its payload has no key (each is [event_key, payload])"])
        #expect(try await f.publishedKeys() == ["trade:j:3"])
    }
}
