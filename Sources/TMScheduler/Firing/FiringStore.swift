import Foundation
import TMLocks
import TMPostgres

/// The scheduler's durable memory in Postgres (`schedule_firings`, `schedule_cursors`, migration 0006).
///
/// Guarantees: a slot gets at most one row, ever (UNIQUE (schedule, slot)); `reserve` tells
/// whether this caller created the row or found one; `markEnqueued` succeeds for exactly one
/// writer, so exactly one caller can claim to have fired a slot; `clearToSend` lets a slot be sent
/// again only while its first send's idempotency record must still exist; every write by a leader runs in a
/// transaction fenced by its lease, so it lands only while no newer leader has written.
public struct FiringStore: Sendable {
    public let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// The result of `reserve`.
    public enum Reservation: Sendable {
        /// This call created the row.
        case created
        /// The slot already had this row.
        case existing(Firing)
    }

    /// Inserts the row of `slot` in `state` unless the slot has one.
    public func reserve(
        _ slot: Slot, state: Firing.State, trigger: Firing.Trigger, queue: String?, detail: String? = nil,
        by authority: FiringAuthority
    ) async throws -> Reservation {
        let (schedule, instant, key) = (slot.schedule, slot.instant, slot.key)
        let (identity, token) = (authority.identity, authority.fencingToken)
        return try await write(authority) { db in
            let inserted = try db.execute("""
                INSERT INTO schedule_firings (schedule, slot, state, trigger, queue, idempotency_key, leader, fencing_token, detail)
                VALUES (\(schedule), \(instant), \(state.rawValue), \(trigger.rawValue), \(queue), \(key), \(identity), \(token), \(detail))
                ON CONFLICT (schedule, slot) DO NOTHING
                """)
            if inserted == 1 { return .created }
            let rows = try db.query("SELECT \(fragment: Self.columns) FROM schedule_firings WHERE schedule = \(schedule) AND slot = \(instant)")
            guard let row = rows.firstRow else { throw PostgresError(kind: .client, message: "firing \(key) vanished during its reservation") }
            return .existing(try Self.firing(row))
        }
    }

    /// What `clearToSend` decided.
    public enum Clearance: Sendable {
        /// The slot is still unsettled and may be sent under its idempotency key now.
        case send
        /// The slot is settled already (enqueued, or skipped by someone else).
        case settled(Firing)
        /// An earlier enqueue was sent more than `window` ago and never confirmed: the row is now
        /// `unconfirmed` and the slot must not be sent again.
        case unconfirmed(Firing)
    }

    /// Called before every enqueue of a slot. Records when the first enqueue was sent; refuses
    /// (marking the row `unconfirmed`) when that was more than `window` ago, because past the
    /// idempotency record's lifetime a second send under the same key could enqueue a second message.
    ///
    /// This is what makes the Postgres row, not the expirable Redis record, the authority: a send is
    /// repeated only while the record of the first one is certain to exist.
    public func clearToSend(_ slot: Slot, window: Duration, by authority: FiringAuthority) async throws -> Clearance {
        let (schedule, instant, key) = (slot.schedule, slot.instant, slot.key)
        let windowMs = window.milliseconds
        return try await write(authority) { db in
            let claimed = try db.query("""
                UPDATE schedule_firings SET enqueue_sent_at = coalesce(enqueue_sent_at, now())
                WHERE schedule = \(schedule) AND slot = \(instant) AND state IN ('pending', 'buffered')
                RETURNING enqueue_sent_at < now() - \(windowMs)::bigint * interval '1 millisecond' AS expired,
                          enqueue_sent_at
                """).firstRow
            if let claimed, try !claimed.decode("expired", as: Bool.self) { return .send }
            if let claimed {
                let sent: Date = try claimed.decode("enqueue_sent_at")
                let detail = "its enqueue was sent at \(Slot.iso8601(sent, in: .gmt)) and never confirmed; the idempotency record "
                    + "(kept \(windowMs / 1000) s) may have expired, so it is not sent again: check the queue for key \(key)"
                try db.execute("""
                    UPDATE schedule_firings SET state = 'unconfirmed', detail = \(detail)
                    WHERE schedule = \(schedule) AND slot = \(instant)
                    """)
            }
            let rows = try db.query("SELECT \(fragment: Self.columns) FROM schedule_firings WHERE schedule = \(schedule) AND slot = \(instant)")
            guard let row = rows.firstRow else { throw PostgresError(kind: .client, message: "firing \(key) has no row") }
            let firing = try Self.firing(row)
            return claimed == nil ? .settled(firing) : .unconfirmed(firing)
        }
    }

    /// The row of `slot`, if it has one.
    public func firing(_ slot: Slot) async throws -> Firing? {
        try await pool.query("""
            SELECT \(fragment: Self.columns) FROM schedule_firings WHERE schedule = \(slot.schedule) AND slot = \(slot.instant)
            """).firstRow.map(Self.firing)
    }

    /// Marks a pending or buffered slot enqueued with `messageID`. False when the row was no
    /// longer pending or buffered (another writer completed it first).
    @discardableResult
    public func markEnqueued(_ slot: Slot, queue: String, messageID: String, by authority: FiringAuthority) async throws -> Bool {
        let (schedule, instant) = (slot.schedule, slot.instant)
        let (identity, token) = (authority.identity, authority.fencingToken)
        return try await write(authority) { db in
            try db.execute("""
                UPDATE schedule_firings
                SET state = 'enqueued', queue = \(queue), message_id = \(messageID), fired_at = now(),
                    leader = \(identity), fencing_token = \(token)
                WHERE schedule = \(schedule) AND slot = \(instant) AND state IN ('pending', 'buffered')
                """) == 1
        }
    }

    /// The latest slot that has a row, in any state: due slots are the ones after it.
    public func latestSlot(of schedule: String) async throws -> Date? {
        let rows = try await pool.query("SELECT max(slot) AS slot FROM schedule_firings WHERE schedule = \(schedule)")
        return try rows.firstRow?.decode("slot", as: Date?.self)
    }

    /// The latest row of `schedule`, for the operator view.
    public func latestFiring(of schedule: String) async throws -> Firing? {
        let rows = try await pool.query("""
            SELECT \(fragment: Self.columns) FROM schedule_firings WHERE schedule = \(schedule) ORDER BY slot DESC LIMIT 1
            """)
        return try rows.firstRow.map(Self.firing)
    }

    /// Rows of `schedule` waiting for an enqueue: pending (interrupted) and buffered, oldest first.
    public func unsettled(of schedule: String) async throws -> [Firing] {
        let rows = try await pool.query("""
            SELECT \(fragment: Self.columns) FROM schedule_firings
            WHERE schedule = \(schedule) AND state IN ('pending', 'buffered') ORDER BY slot
            """)
        return try rows.map(Self.firing)
    }

    /// The latest slot before `slot` whose message was (or is being) enqueued: the run a new slot
    /// may overlap with.
    public func previousRun(of schedule: String, before slot: Date) async throws -> Firing? {
        let rows = try await pool.query("""
            SELECT \(fragment: Self.columns) FROM schedule_firings
            WHERE schedule = \(schedule) AND slot < \(slot) AND state IN ('pending', 'enqueued')
            ORDER BY slot DESC LIMIT 1
            """)
        return try rows.firstRow.map(Self.firing)
    }

    /// When a leader first saw `schedule`; recorded as `now` by the first leader to ask, so a new
    /// schedule fires from then on and a later leader agrees where it starts.
    public func firstSeen(_ schedule: String, now: Date, by authority: FiringAuthority) async throws -> Date {
        try await write(authority) { db in
            try db.execute("INSERT INTO schedule_cursors (schedule, first_seen_at) VALUES (\(schedule), \(now)) ON CONFLICT DO NOTHING")
            return try db.query("SELECT first_seen_at FROM schedule_cursors WHERE schedule = \(schedule)").scalar(as: Date.self)
        }
    }

    /// A leader's empty fenced write: raises the fence to its token at once, so from then on
    /// every write of an older leader is refused, even one that has not noticed it was deposed.
    public func claim(by authority: FiringAuthority) async throws {
        try await write(authority) { _ in }
    }

    private func write<T: Sendable>(_ authority: FiringAuthority, _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        switch authority {
        case .leader(let lease, _): return try await pool.transaction(fencedBy: lease, body)
        case .cli: return try await pool.transaction(body)
        }
    }

    static let columns: PostgresQuery = "schedule, slot, state, trigger, queue, idempotency_key, message_id, leader, fencing_token, detail, fired_at"

    static func firing(_ row: PostgresRow) throws -> Firing {
        let (stateText, triggerText): (String, String) = (try row.decode("state"), try row.decode("trigger"))
        // The table's CHECK constraints allow no other values; a newer schema's would be refused here.
        guard let state = Firing.State(rawValue: stateText), let trigger = Firing.Trigger(rawValue: triggerText) else {
            throw PostgresError(kind: .client, message: "schedule_firings: unknown state '\(stateText)' or trigger '\(triggerText)'")
        }
        return Firing(
            schedule: try row.decode("schedule"), slot: try row.decode("slot"), state: state, trigger: trigger,
            queue: try row.decode("queue"), key: try row.decode("idempotency_key"), messageID: try row.decode("message_id"),
            leader: try row.decode("leader"), fencingToken: try row.decode("fencing_token"), detail: try row.decode("detail"),
            firedAt: try row.decode("fired_at"))
    }
}
