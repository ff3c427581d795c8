import Foundation
import Logging
import TMCore
import TMPostgres
import TMQueue

/// The `trade-events` outbox (`trade_event_outbox`): events a sync (or the order path) wrote in its
/// own transaction, published after it commits. A row holds one message, or — the order path's,
/// migration 0028 — all the messages of one transaction in commit order (a batch row): as text
/// lines `<key>\t<payload>` since migration 0035 (`OutboxTextBatch`, sent as stored), as a jsonb
/// array of [key, payload] pairs before it (still read, so rows waiting across the upgrade go out).
///
/// Guarantees:
/// - every committed message is published at least once, never an uncommitted one; rows are
///   published in id order and a batch row's messages in their order, so an account's messages
///   go out in the order their transactions wrote them; a row is deleted only once all of its
///   messages were taken;
/// - publishing is best effort and never fails a sync: what `trade-events` refuses (full, or Redis
///   unreachable) stays in the outbox, and a full queue stops the pass at its first refusal instead
///   of offering every waiting event again;
/// - the outbox drains later: the account's next sync publishes its events, and every sync-trigger
///   pass publishes the oldest waiting events of all accounts (`drain`);
/// - it is bounded: an event still unpublished after `retention` is dropped, and every drop is
///   counted in `trade_event_outbox_drops` (account, how many, oldest, newest, why) and shown by
///   `tm queues` and `tm doctor` — nothing is dropped silently. The trades themselves stay in
///   `trades`, the source of truth the events only announce;
/// - a row sent twice (a crash between the send and the delete) is enqueued once: each row goes out
///   as one group under its `event_key` (`QueueProducer.enqueueGroups`), whole or not at all, with
///   one record per row (a single event's row: the event's own key, as a keyed enqueue); every
///   message still carries its own key (trade and revision, or order and event) for consumers;
/// - a row the relay cannot read (a text batch line without its key, a jsonb batch pair without
///   one) is never sent in part and never holds up the others: it is set aside in
///   `trade_event_outbox_quarantine` (migration 0042) with the reason naming the row and the line,
///   logged once, counted in `status` (shown by `tm doctor` and `tm queues`), and every other row is
///   relayed. So is a row the queue refuses as it is (a message over `max_payload_bytes`, a key
///   over 512 bytes), which would else be refused at every pass: nothing after it in its call is
///   sent (`enqueueGroups` holds later groups back). Per-account order holds across it: a later
///   row carrying a message of an account the quarantined row names is set aside too, waiting
///   behind it (and since a row goes whole, its
///   other accounts' later rows wait with it), until an operator replays the fixed row or drops it
///   (`tm queues outbox`, `OutboxQuarantine.swift`); then they go back under their own ids, in
///   their place. A message whose account cannot be read holds no account's order.
public struct TradeEventOutbox: Sendable {
    public let pool: PostgresPool
    public let producer: QueueProducer
    public var queue = "trade-events"
    /// How long an event may wait for `trade-events` before it is dropped (and counted).
    public var retention: Duration = .seconds(3 * 86_400)
    /// Most messages offered per script call (whole rows: a larger row goes alone). Redis runs one
    /// script at a time and every other caller — the order path's reads, admissions, settles —
    /// waits behind it: a message costs the script ~5 µs hot and ~9 in the bench at 1,000/s, so
    /// 500 a call held Redis 3–15 ms (PROFILE.md, session 29 redis5); 32 keeps a call at a few
    /// hundred µs. The pass still deletes once, however many calls it took.
    public var chunk = 32

    public init(pool: PostgresPool, producer: QueueProducer) {
        self.pool = pool
        self.producer = producer
    }

    /// What one publishing pass did.
    public struct Report: Sendable, Equatable {
        public var published = 0
        /// Left in the outbox (refused, or not reached after a refusal).
        public var kept = 0
        /// Why the first refused event was refused.
        public var refusal: String?
        /// Rows set aside as unreadable this pass (`trade_event_outbox_quarantine`, 'malformed').
        public var quarantined = 0
        /// Messages set aside this pass: those of the unreadable rows, and those of the rows that wait
        /// behind one for their account's order.
        public var setAside = 0
    }

    /// Writes `events` of `account` into the outbox, inside the caller's transaction (a sync's, an
    /// import's): they exist exactly when the trades they announce do. An event already waiting
    /// (same key) is not written twice.
    public static func record(_ db: PostgresConnection, account: UUID, events: [TradeEvent]) throws {
        let encoder = JSONEncoder()
        for start in stride(from: 0, to: events.count, by: 200) {
            var binds: [PostgresData?] = [account.postgresData()]
            var rows: [String] = []
            for event in events[start..<min(start + 200, events.count)] {
                binds += [event.key.postgresData(), String(decoding: try encoder.encode(event), as: UTF8.self).postgresData()]
                rows.append("($1, $\(binds.count - 1), $\(binds.count)::jsonb)")
            }
            try db.execute(PostgresQuery(
                unsafeSQL: "INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES \(rows.joined(separator: ", ")) ON CONFLICT (event_key) DO NOTHING",
                binds: binds))
        }
    }

    /// Publishes about `limit` waiting events, oldest first — one account's (after its sync) or
    /// everyone's (`account: nil`, the drain) — and deletes the outbox rows all of whose messages
    /// were sent. Rows are read whole (a batch row of the order path carries a transaction's
    /// messages, migration 0028): a pass reads rows until `limit` messages are reached, so it may
    /// publish a batch row's worth more. An account's pass also takes the batch rows (they carry
    /// no single account, and may hold this account's events written before its own rows). Never
    /// throws: a failure keeps the events for the next pass. A row it cannot read is set aside with
    /// the rows that must wait behind it (`setAside`), not sent, and not in the way of the others.
    @discardableResult
    public func publish(account: UUID?, limit: Int = 5_000, logger: Logger) async -> Report {
        var report = Report()
        // Rows all of whose messages were taken, and how many messages the pass had to send.
        var sent: [Int64] = [], waitingMessages = 0
        do {
            var filter: PostgresQuery = ""
            if let account { filter = "WHERE account_id = \(account) OR account_id IS NULL" }
            // The first rows holding `limit` messages (each row holds one at least, so the first
            // `limit` rows are enough), then their messages in order: a text batch (0035) as one
            // row, split here; a jsonb row (one message, or a batch written before 0035) unpacked.
            // Prepared (as the delete): its plan cost more than its run in a burst (~0.25 ms a pass).
            // Planned once per session: the limit is read through a sub-SELECT, so no plan sees its
            // value and the generic plan costs what a custom one does (seeing it, the custom plans of
            // a backlog looked cheaper than the generic plan's 10% of the table, and every pass was
            // planned afresh, ~1.5M instructions a pass). The taken rows are then looked up by their
            // ids as an array (an InitPlan, 10 ids to any plan), by the primary key: joined back, the
            // generic plan's tenth of a large backlog hashed them against a scan of the whole outbox.
            // `quarantined`: whether any row is set aside (one look at a table that is empty but
            // when an operator has something to fix); only then are the rows' accounts read.
            let read: PostgresQuery = """
                WITH head AS (SELECT id, messages FROM trade_event_outbox \(fragment: filter) ORDER BY id LIMIT (SELECT \(limit)::bigint)),
                taken AS (SELECT id FROM (SELECT id, sum(messages) OVER (ORDER BY id) - messages AS before FROM head) h
                          WHERE before < \(limit))
                SELECT o.id, o.event_key AS row_key, o.batch, m.event_key, m.payload::text AS payload,
                       EXISTS (SELECT FROM trade_event_outbox_quarantine) AS quarantined
                FROM trade_event_outbox o
                     LEFT JOIN LATERAL tm_outbox_messages(o.event_key, o.payload) AS m ON o.batch IS NULL
                WHERE o.id = ANY (ARRAY(SELECT id FROM taken))
                ORDER BY o.id, m.n
                """
            let rows = try await pool.query(read.prepared).rows
            // Each outbox row with its messages, in order.
            var waiting: [(id: Int64, group: OutgoingGroup)] = []
            // Rows that cannot be read, with why (naming the row and the line).
            var unreadable: [Int64: String] = [:]
            var quarantined = false
            for row in rows {
                let id = try row.decode("id", as: Int64.self)
                if waiting.last?.id != id {
                    waiting.append((id, OutgoingGroup(key: try row.decode("row_key", as: String.self), messages: [])))
                    quarantined = try row.decode("quarantined", as: Bool.self)
                }
                guard unreadable[id] == nil else { continue }
                do {
                    if let batch = try row.decode("batch", as: String?.self) {
                        waiting[waiting.count - 1].group.messages = try OutboxTextBatch.messages(batch, row: id)
                    } else {
                        waiting[waiting.count - 1].group.messages.append(try OutboxTextBatch.message(
                            key: try row.decode("event_key", as: String?.self), payload: try row.decode("payload", as: String?.self),
                            row: id, line: waiting[waiting.count - 1].group.messages.count + 1))
                    }
                } catch let error as OutboxTextBatch.Malformed {
                    unreadable[id] = error.description
                }
            }
            if quarantined || !unreadable.isEmpty {
                let aside = try await setAside(waiting.map(\.id), unreadable: unreadable, logger: logger)
                report.quarantined = aside.quarantined
                report.setAside = aside.messages
                waiting.removeAll { aside.rows.contains($0.id) }
            }
            waitingMessages = waiting.reduce(0) { $0 + $1.group.messages.count }
            var index = 0
            while index < waiting.count {
                // Whole rows per script call, up to `chunk` messages (a larger row goes alone): a row
                // is deleted only when every one of its messages was taken.
                var end = index + 1, count = waiting[index].group.messages.count
                while end < waiting.count, count + waiting[end].group.messages.count <= chunk { count += waiting[end].group.messages.count; end += 1 }
                let part = waiting[index..<end]
                index = end
                // The payloads are Postgres `jsonb` text or the order path's text batches (built from
                // JSONValue's text, see OrderStore.eventWrites): JSON by construction, not checked again.
                let results = try await producer.enqueueGroups(queue, part.map(\.group), payloadsAreJSON: true)
                // A row the queue refuses by itself (a message over its payload limit, a key too long)
                // would be refused at every pass: it is set aside like an unreadable one.
                var refusedAsIs: [Int64: String] = [:]
                for (row, result) in zip(part, results) {
                    switch result {
                    case .success:
                        sent.append(row.id)
                        report.published += row.group.messages.count
                    case .failure(let error as QueueError) where error.refusesTheMessageItself:
                        refusedAsIs[row.id] = "trade_event_outbox row \(row.id): \(queue) refuses it as it is: \(error)"
                    case .failure(QueueError.heldBack):
                        break  // not sent, behind the row refused as it is
                    case .failure(let error):
                        if report.refusal == nil { report.refusal = "\(error)" }
                    }
                }
                if !refusedAsIs.isEmpty {
                    // Nothing from it on was sent: it and the rows of its accounts after it are set
                    // aside in order, and the others go on in this pass.
                    let from = part.firstIndex { refusedAsIs[$0.id] != nil }!
                    let aside = try await setAside(waiting[from...].map(\.id), unreadable: refusedAsIs, logger: logger)
                    report.quarantined += aside.quarantined
                    report.setAside += aside.messages
                    waitingMessages -= waiting[from...].reduce(0) { $0 + (aside.rows.contains($1.id) ? $1.group.messages.count : 0) }
                    waiting.replaceSubrange(from..., with: waiting[from...].filter { !aside.rows.contains($0.id) })
                    index = from
                }
                // A refusing queue (full) refuses the rest too: leave them for a later pass.
                if report.refusal != nil { break }
            }
        } catch {
            report.refusal = report.refusal ?? "\(error)"
        }
        // What was taken goes in one statement (one commit) per pass, not one per call — also when
        // a later call failed, so a failure re-sends only what it did not take.
        do { try await delete(sent) } catch { report.refusal = report.refusal ?? "\(error)" }
        report.kept = waitingMessages - report.published
        if let refusal = report.refusal {
            logger.warning("trade events kept in the outbox for a later pass", metadata: [
                "published": "\(report.published)", "kept": "\(report.kept)", "reason": "\(refusal)",
            ])
        }
        return report
    }

    /// Publishes everything waiting, `limit` at a time: a pass that found `limit` events is
    /// followed at once by another (a relay pacing one pass per interval would cap the events per
    /// second at `limit` per interval, below the order path's rate), until a pass finds fewer or
    /// the queue refuses. Never throws; returns the passes' totals.
    @discardableResult
    public func relay(limit: Int = 1_000, logger: Logger) async -> Report {
        var total = Report()
        while true {
            let pass = await publish(account: nil, limit: limit, logger: logger)
            total.published += pass.published
            total.kept = pass.kept
            total.refusal = pass.refusal
            total.quarantined += pass.quarantined
            total.setAside += pass.setAside
            // A pass that set rows aside read them too: what it moved counts toward a full pass.
            if pass.refusal != nil || pass.published + pass.setAside < limit || Task.isCancelled { return total }
        }
    }

    /// Deletes what was sent: one statement per pass, its text the same whatever the count (the ids
    /// as one array parameter), so Postgres parses one short statement, not a list of 1,000 binds,
    /// and plans it once per session (prepared). The array is read through a sub-SELECT: a plan that
    /// saw its length (a pass of fewer than 10 ids) looked cheaper than the generic plan's 10
    /// elements, so every such delete was planned afresh; unseen, the generic plan is kept.
    private func delete(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let statement: PostgresQuery = "DELETE FROM trade_event_outbox WHERE id = ANY((SELECT \("{\(ids.map(String.init).joined(separator: ","))}")::bigint[])::bigint[])"
        try await pool.execute(statement.prepared)
    }

    /// Drops the events older than `retention`, recording per account how many, which span and
    /// why, in the same transaction. Returns how many were dropped.
    @discardableResult
    public func expire(logger: Logger) async throws -> Int {
        let reason = "not accepted by \(queue) within \(DurationText.format(retention)) (the queue full or unreachable); the trades are in `trades`"
        let retentionMs = retention.milliseconds
        let dropped = try await pool.transaction { db in
            try db.query("""
                WITH dropped AS (
                  DELETE FROM trade_event_outbox WHERE created_at < now() - \(retentionMs)::bigint * interval '1 millisecond'
                  RETURNING account_id, event_key, payload, batch, created_at
                ), messages AS (
                  -- a batch row's messages each count for their own account
                  SELECT coalesce(d.account_id, (m.payload ->> 'account_id')::uuid) AS account_id, d.created_at
                  FROM dropped d CROSS JOIN LATERAL tm_outbox_messages(d.event_key, d.payload, d.batch) AS m
                ), counted AS (
                  INSERT INTO trade_event_outbox_drops (account_id, dropped, oldest_event, newest_event, reason)
                  SELECT account_id, count(*), min(created_at), max(created_at), \(reason) FROM messages GROUP BY account_id
                  RETURNING dropped
                )
                SELECT coalesce(sum(dropped), 0)::int AS dropped FROM counted
                """).scalar(as: Int.self)
        }
        if dropped > 0 {
            logger.error("trade events dropped from the outbox after its retention", metadata: ["dropped": "\(dropped)", "reason": "\(reason)"])
        }
        return dropped
    }

    /// The outbox as an operator sees it.
    public struct Status: Codable, Sendable, Equatable {
        /// Events waiting to be published.
        public var waiting: Int
        /// Seconds the oldest waiting event has waited (nil when none wait).
        public var oldestAgeSeconds: Int64?
        /// Events dropped after the retention in the last `since` (default a day).
        public var droppedRecently: Int
        /// Rows the relay could not read, set aside until an operator replays or drops them.
        public var quarantined = 0
        /// Events set aside behind them, for their accounts' order.
        public var waitingBehindQuarantine = 0
        /// The first quarantined row's reason (it names the row and the line).
        public var firstQuarantineReason: String?

        enum CodingKeys: String, CodingKey {
            case waiting
            case oldestAgeSeconds = "oldest_age_seconds"
            case droppedRecently = "dropped_recently"
            case quarantined
            case waitingBehindQuarantine = "waiting_behind_quarantine"
            case firstQuarantineReason = "first_quarantine_reason"
        }

        /// What an operator should look at, or nil when the outbox is healthy: rows the relay could
        /// not read (quarantined), events waiting longer than `threshold` (trade-events is not taking
        /// them), or events dropped recently.
        public func problem(threshold: Duration) -> String? {
            var problems: [String] = []
            if quarantined > 0 {
                problems.append("\(quarantined) trade_event_outbox row(s) quarantined, unreadable by the relay (\(firstQuarantineReason ?? "?")), "
                    + "\(waitingBehindQuarantine) trade event(s) of their accounts waiting behind them: `tm queues outbox` to replay or drop")
            }
            if let age = oldestAgeSeconds, age > threshold.milliseconds / 1000 {
                problems.append("\(waiting) trade event(s) waiting, the oldest for \(DurationText.format(.seconds(age))) (over \(DurationText.format(threshold))): trade-events is not accepting them")
            }
            if droppedRecently > 0 {
                problems.append("\(droppedRecently) trade event(s) dropped after the outbox's retention in the last day (see trade_event_outbox_drops)")
            }
            return problems.isEmpty ? nil : problems.joined(separator: "; ")
        }
    }

    /// Waiting events, the oldest one's age (by the database's clock), recent drops and the quarantine.
    public static func status(_ db: PostgresConnection, droppedSince: Duration = .seconds(86_400)) throws -> Status {
        let sinceMs = droppedSince.milliseconds
        let row = try db.query("""
            SELECT (SELECT coalesce(sum(messages), 0) FROM trade_event_outbox)::int AS waiting,
                   (SELECT extract(epoch FROM now() - min(created_at))::bigint FROM trade_event_outbox) AS oldest,
                   (SELECT coalesce(sum(dropped), 0) FROM trade_event_outbox_drops
                     WHERE at > now() - \(sinceMs)::bigint * interval '1 millisecond')::int AS dropped,
                   (SELECT count(*) FROM trade_event_outbox_quarantine WHERE state = 'malformed')::int AS quarantined,
                   (SELECT coalesce(sum(messages), 0) FROM trade_event_outbox_quarantine WHERE state = 'waiting')::int AS behind,
                   (SELECT reason FROM trade_event_outbox_quarantine WHERE state = 'malformed' ORDER BY id LIMIT 1) AS first_reason
            """).rows[0]
        return Status(waiting: try row.decode("waiting"), oldestAgeSeconds: try row.decode("oldest"), droppedRecently: try row.decode("dropped"),
                      quarantined: try row.decode("quarantined"), waitingBehindQuarantine: try row.decode("behind"),
                      firstQuarantineReason: try row.decode("first_reason"))
    }

    /// How old the oldest waiting event may be before `tm doctor` and `tm queues` flag the outbox.
    public static let staleAfter: Duration = .seconds(15 * 60)
}
