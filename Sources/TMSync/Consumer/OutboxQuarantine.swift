import Foundation
import Logging
import TMPostgres

/// The outbox's quarantine (`trade_event_outbox_quarantine`, migration 0042): where the relay sets
/// aside a row it cannot read, and the later rows that must wait behind it for their accounts'
/// order, so that one bad row holds up only what per-account order requires, not every trader.
///
/// Guarantees:
/// - a row is set aside whole, in one statement that deletes it from the outbox: it is in exactly
///   one of the two tables, with its id (its place in the relay's order), key, messages and age;
/// - a row waits behind a quarantined one exactly when one of its messages names an account that a
///   quarantined or waiting row names (read from each message's `account_id`): an account's later
///   events never overtake its quarantined one;
/// - `replay` puts a quarantined row back only when it reads (after the operator's fix), and `drop`
///   removes it and counts its messages per account in `trade_event_outbox_drops`; either releases
///   every waiting row to the outbox under its own id, in one transaction (the next pass holds
///   again what still waits behind another quarantined row). Back in the outbox, a row's retention
///   starts again. A replayed row goes out once: it is an outbox row like any other.
extension TradeEventOutbox {
    /// What one pass set aside.
    struct SetAside {
        /// The outbox rows moved to the quarantine (by this pass, or by a concurrent one since this
        /// pass read them): none of them is this pass's to send.
        var rows: Set<Int64> = []
        /// How many of them were unreadable.
        var quarantined = 0
        /// Their messages.
        var messages = 0
    }

    /// Moves to the quarantine the unreadable rows among `ids` (the pass's rows, in relay order) and
    /// the rows that must wait behind a quarantined one for their accounts' order; logs each
    /// unreadable row once (its reason names the row and the line, never a payload).
    func setAside(_ ids: [Int64], unreadable: [Int64: String], logger: Logger) async throws -> SetAside {
        let (decided, gone) = try await pool.transaction { db -> ([(id: Int64, reason: String, behind: Int64?)], Set<Int64>) in
            // The pass's rows still in the outbox, locked in relay order: a concurrent pass that set
            // some aside has committed by now, and the rows it moved are not this pass's to send
            // (they wait in the quarantine, seen by the next statement).
            let present = Set(try db.query("""
                SELECT id FROM trade_event_outbox WHERE id = ANY(\(PostgresData.array(ids))::bigint[]) ORDER BY id FOR UPDATE
                """).rows.map { try $0.decode("id", as: Int64.self) })
            let gone = Set(ids).subtracting(present)
            // The accounts already held, each with the quarantined row it waits behind.
            var held: [String: Int64] = [:]
            for row in try db.query("""
                SELECT DISTINCT ON (a) a::text AS account, coalesce(behind, id) AS behind
                FROM trade_event_outbox_quarantine CROSS JOIN LATERAL unnest(accounts) AS a ORDER BY a, id
                """).rows {
                held[try row.decode("account")] = try row.decode("behind", as: Int64.self)
            }
            var accounts: [Int64: [String]] = [:]
            for row in try db.query("""
                SELECT o.id, a::text AS account
                FROM trade_event_outbox o CROSS JOIN LATERAL unnest(tm_outbox_accounts(o.account_id, o.payload, o.batch)) AS a
                WHERE o.id = ANY(\(PostgresData.array(ids))::bigint[])
                """).rows {
                accounts[try row.decode("id", as: Int64.self), default: []].append(try row.decode("account"))
            }
            var decided: [(id: Int64, reason: String, behind: Int64?)] = []
            for id in ids where present.contains(id) {
                let named = accounts[id] ?? []
                let behind: Int64?
                if let reason = unreadable[id] {
                    decided.append((id, reason, nil))
                    behind = id
                } else if let first = named.compactMap({ held[$0] }).min() {
                    decided.append((id, "waits behind quarantined trade_event_outbox row \(first): an account of its messages has an earlier event there", first))
                    behind = first
                } else {
                    continue
                }
                for account in named where held[account] == nil { held[account] = behind }
            }
            guard !decided.isEmpty else { return ([], gone) }
            try db.execute("""
                WITH moved AS (
                  DELETE FROM trade_event_outbox WHERE id = ANY(\(PostgresData.array(decided.map(\.id)))::bigint[])
                  RETURNING id, account_id, event_key, payload, batch, messages, created_at)
                INSERT INTO trade_event_outbox_quarantine (id, account_id, event_key, payload, batch, messages, created_at, state, accounts, reason, behind)
                SELECT m.id, m.account_id, m.event_key, m.payload, m.batch, m.messages, m.created_at,
                       CASE WHEN d.behind IS NULL THEN 'malformed' ELSE 'waiting' END,
                       tm_outbox_accounts(m.account_id, m.payload, m.batch), d.reason, d.behind
                FROM moved m JOIN unnest(\(PostgresData.array(decided.map(\.id)))::bigint[], \(PostgresData.array(decided.map(\.reason)))::text[],
                                         \(PostgresData.array(decided.map { $0.behind.map { $0.postgresData() } }))::bigint[]) AS d (id, reason, behind) USING (id)
                """)
            return (decided, gone)
        }
        var result = SetAside()
        let messages = try await pool.query("""
            SELECT coalesce(sum(messages), 0)::int AS messages FROM trade_event_outbox_quarantine
            WHERE id = ANY(\(PostgresData.array(decided.map(\.id)))::bigint[])
            """).rows.first?.decode("messages", as: Int.self) ?? 0
        result.rows = Set(decided.map(\.id)).union(gone)
        result.messages = messages
        for row in decided where row.behind == nil {
            result.quarantined += 1
            logger.error("trade_event_outbox row quarantined: the relay cannot read it; its accounts' later events wait behind it until it is replayed or dropped (`tm queues outbox`)",
                         metadata: ["row": "\(row.id)", "reason": "\(row.reason)"])
        }
        let waiting = decided.count - result.quarantined
        if waiting > 0 {
            logger.warning("trade_event_outbox rows set aside behind a quarantined row, for their accounts' order", metadata: ["rows": "\(waiting)"])
        }
        return result
    }

    /// A row in the quarantine, as an operator sees it.
    public struct QuarantinedRow: Codable, Sendable, Equatable {
        public var id: Int64
        /// "malformed" (unreadable: fix it, then replay or drop it) or "waiting" (behind `behind`).
        public var state: String
        public var eventKey: String
        public var messages: Int
        public var accounts: [String]
        public var reason: String
        public var behind: Int64?
        public var ageSeconds: Int64
        public var quarantinedSecondsAgo: Int64

        enum CodingKeys: String, CodingKey {
            case id, state, messages, accounts, reason, behind
            case eventKey = "event_key", ageSeconds = "age_seconds", quarantinedSecondsAgo = "quarantined_seconds_ago"
        }
    }

    /// The quarantined rows, in relay order.
    public static func quarantined(_ db: PostgresConnection) throws -> [QuarantinedRow] {
        try db.query("""
            SELECT id, state, event_key, messages, array_to_string(accounts, ',') AS accounts, reason, behind,
                   extract(epoch FROM now() - created_at)::bigint AS age, extract(epoch FROM now() - quarantined_at)::bigint AS since
            FROM trade_event_outbox_quarantine ORDER BY id
            """).rows.map { row in
            let accounts: String = try row.decode("accounts")
            return QuarantinedRow(
                id: try row.decode("id"), state: try row.decode("state"), eventKey: try row.decode("event_key"),
                messages: try row.decode("messages"), accounts: accounts.split(separator: ",").map(String.init), reason: try row.decode("reason"),
                behind: try row.decode("behind"), ageSeconds: try row.decode("age"), quarantinedSecondsAgo: try row.decode("since"))
        }
    }

    /// A quarantined row's stored text: its batch (`<key>\t<payload>` lines) or its jsonb payload,
    /// for the operator to fix.
    public static func quarantinedText(_ db: PostgresConnection, id: Int64) throws -> String {
        guard let row = try db.query("SELECT coalesce(batch, payload::text) AS text FROM trade_event_outbox_quarantine WHERE id = \(id)").rows.first else {
            throw QuarantineError(description: "no quarantined trade_event_outbox row \(id) (`tm queues outbox` lists them)")
        }
        return try row.decode("text")
    }

    /// An operator's refusal: no such row, or it does not read yet.
    public struct QuarantineError: Error, CustomStringConvertible {
        public var description: String

        /// Replay and drop act only on an unreadable row, never on one waiting behind it.
        static func noMalformedRow(_ id: Int64) -> QuarantineError {
            QuarantineError(description: "no quarantined (malformed) trade_event_outbox row \(id) (`tm queues outbox` lists them)")
        }
    }

    /// What a replay or a drop did.
    public struct Release: Sendable, Equatable {
        /// Messages put back in the outbox (replay) or dropped (drop) from the quarantined row.
        public var messages = 0
        /// Of the dropped messages, those counted in `trade_event_outbox_drops` (the others name no
        /// readable account).
        public var counted = 0
        /// Waiting rows released to the outbox.
        public var released = 0
    }

    /// Puts quarantined row `id` back in the outbox — with `batch` as its fixed text when given (a
    /// text batch row only) — once it reads, and releases the waiting rows. Throws
    /// `QuarantineError` when there is no such unreadable row or it still does not read.
    public static func replay(_ db: PostgresConnection, id: Int64, batch fixed: String? = nil) throws -> Release {
        try db.transaction { db in
            guard let row = try db.query("""
                SELECT batch, payload IS NULL AS text_form FROM trade_event_outbox_quarantine WHERE id = \(id) AND state = 'malformed' FOR UPDATE
                """).rows.first else {
                throw QuarantineError.noMalformedRow(id)
            }
            let count: Int
            do {
                if let batch = try fixed ?? row.decode("batch", as: String?.self) {
                    guard try row.decode("text_form", as: Bool.self) else {
                        throw QuarantineError(description: "row \(id) holds a jsonb payload, not a text batch: fix its payload in trade_event_outbox_quarantine, then replay it")
                    }
                    count = try OutboxTextBatch.messages(batch, row: id).count
                } else {
                    let messages = try db.query("""
                        SELECT m.event_key, m.payload::text AS payload FROM trade_event_outbox_quarantine q
                        LEFT JOIN LATERAL tm_outbox_messages(q.event_key, q.payload) AS m ON true WHERE q.id = \(id) ORDER BY m.n
                        """).rows
                    for (n, message) in messages.enumerated() {
                        _ = try OutboxTextBatch.message(key: try message.decode("event_key"), payload: try message.decode("payload"), row: id, line: n + 1)
                    }
                    count = messages.count
                }
            } catch let error as OutboxTextBatch.Malformed {
                throw QuarantineError(description: "still unreadable, left in the quarantine: \(error)")
            }
            try db.execute("""
                UPDATE trade_event_outbox_quarantine SET batch = coalesce(\(fixed), batch), messages = \(Int32(count)) WHERE id = \(id)
                """)
            var release = Release(messages: count)
            release.released = try releaseWaiting(db, with: id) - 1
            return release
        }
    }

    /// Removes quarantined row `id` (its messages are not sent), counting them per account in
    /// `trade_event_outbox_drops`, and releases the waiting rows. Throws `QuarantineError` when there
    /// is no such unreadable row.
    public static func drop(_ db: PostgresConnection, id: Int64) throws -> Release {
        try db.transaction { db in
            let row = try db.query("""
                WITH gone AS (
                  DELETE FROM trade_event_outbox_quarantine WHERE id = \(id) AND state = 'malformed'
                  RETURNING account_id, payload, batch, messages, created_at, reason
                ), named AS (
                  SELECT m.account_id, g.created_at, g.reason
                  FROM gone g CROSS JOIN LATERAL tm_outbox_message_accounts(g.account_id, g.payload, g.batch) AS m
                  WHERE m.account_id IN (SELECT id FROM broker_accounts)
                ), counted AS (
                  INSERT INTO trade_event_outbox_drops (account_id, dropped, oldest_event, newest_event, reason)
                  SELECT account_id, count(*), min(created_at), max(created_at),
                         'dropped by an operator from the outbox quarantine (unreadable: ' || min(reason) || ')'
                  FROM named GROUP BY account_id
                  RETURNING dropped
                )
                SELECT (SELECT count(*) FROM gone)::int AS rows, (SELECT coalesce(sum(messages), 0) FROM gone)::int AS messages,
                       (SELECT coalesce(sum(dropped), 0) FROM counted)::int AS counted
                """).rows[0]
            guard try row.decode("rows", as: Int.self) == 1 else {
                throw QuarantineError.noMalformedRow(id)
            }
            var release = Release(messages: try row.decode("messages"), counted: try row.decode("counted"))
            release.released = try releaseWaiting(db, with: nil)
            return release
        }
    }

    /// Moves the waiting rows (and the replayed row `id`) back to the outbox under their own ids, so
    /// they keep their place in the relay's order. A row whose key is waiting in the outbox again
    /// (the same event, recorded since) is not written twice. Returns how many rows left the quarantine.
    private static func releaseWaiting(_ db: PostgresConnection, with id: Int64?) throws -> Int {
        try db.query("""
            WITH back AS (
              DELETE FROM trade_event_outbox_quarantine WHERE state = 'waiting' OR id = \(id)
              RETURNING id, account_id, event_key, payload, batch, messages
            ), written AS (
              INSERT INTO trade_event_outbox (id, account_id, event_key, payload, batch, messages) OVERRIDING SYSTEM VALUE
              SELECT id, account_id, event_key, payload, batch, messages FROM back ORDER BY id
              ON CONFLICT DO NOTHING
            )
            SELECT count(*)::int AS rows FROM back
            """).rows[0].decode("rows")
    }
}
