import Foundation
import TMCore
import TMPostgres
import TMQueue
import TMRedis
import TMRisk

/// Where a trading state applies: every account, or one.
public enum TradingScope: Sendable, Hashable {
    case global
    case account(UUID)
}

/// A trading state set: by whom, when and why, and what it was before.
public struct TradingStateChange: Sendable, Equatable {
    public var scope: TradingScope
    public var state: TradingState
    public var previous: TradingState
    public var reason: String
    public var by: String
    public var at: Date

    public var json: JSONValue {
        var account: JSONValue = .null
        if case .account(let id) = scope { account = .string(id.uuidString.lowercased()) }
        return .object([
            ("scope", .string(scope == .global ? "global" : "account")), ("account_id", account),
            ("trading_state", .string(state.rawValue)), ("previous_state", .string(previous.rawValue)),
            ("reason", .string(reason)), ("by", .string(by)), ("at", .string(OrderViews.time(at))),
        ])
    }
}

/// The kill switch: sets the trading state of the platform or of one account, as the CLI
/// (`tm orders halt|reduce|resume`), the order-worker and limit alerts do.
///
/// Guarantees: the state, who set it, when and why are written in one transaction with an
/// `audit_log` row, so a state is never set without its record; an account's HALT engages its
/// `trading_limits` kill switch (halted ⇔ kill switch, as 0002 requires) and any other state
/// releases it; the write moves `trading_controls_version`, so every `RiskBook.refreshLimits`
/// sees it on its next poll. Bad input is refused naming the field, before anything is written.
public enum TradingControls {
    /// The announced trading-state value, "<n>:<nonce>": n from `counterKey`, a random nonce per
    /// announcement, so a value is never announced twice — not even after Redis lost the counter
    /// (or everything) and n starts again. Order workers read it before a message whose fetch did
    /// not read their shard's copy (`QueueKeys.watched`), compare it whole with the one their
    /// limits were read at, and re-read the limits when it differs, so a change applies from the
    /// next message after the command returns (the limits poll alone takes up to a second).
    public static let announcementKey = "tm:{trading-controls}:announced"
    /// The counter giving each announcement its n (same slot as `announcementKey`, written in the
    /// same script).
    public static let counterKey = "tm:{trading-controls}:counter"
    /// The queue whose shards' watched keys carry the announced value.
    public static let ordersQueue = "orders"
    /// How many shards of `queue` its workers consume (recorded by each worker as it starts, only
    /// ever raised), so an announcer whose own manifest says fewer still raises every one.
    public static func shardsKey(_ queue: String) -> String { "tm:{trading-controls}:shards:\(queue)" }

    /// Records, before a worker consumes `queue`, that it has `shards` shards (never lowered), and
    /// returns the announced value read after the record, in the same script. Any announcement
    /// that does not run before this record raises all `shards`; one that does is no later than the
    /// value returned — so a watched key seeded with that value (`seedWatched`) is raised by every
    /// later announcement. When nothing is announced (Redis's data began since) or the key holds a
    /// previous version's plain counter (an old `tm`'s INCR), a new unique value is announced first
    /// (n from `counterKey`): the shards can then be seeded, and an old announcer's INCR fails from
    /// then on, so it says the workers apply its change within a second — which their limits poll
    /// keeps — instead of from the next message.
    @discardableResult
    public static func recordShards(_ redis: RedisClient, queue: String, shards: Int) async throws -> String {
        let reply = try await redis.run(recordThenRead, keys: [shardsKey(queue), announcementKey, counterKey], arguments: [shards, newNonce()])
        guard let value = reply.string else { throw RedisError.unexpectedReply(command: "record shards", reply: reply.description) }
        return value
    }

    /// Announces the trading-state changes committed so far: writes a new unique value into
    /// `announcementKey` and into the watched key of each shard of `queue` — `shards`, or more when
    /// its workers recorded more (`recordShards`) — all
    /// before returning, so any fetch of any shard that starts afterwards reads it with its
    /// messages (`ResidentState.checkBeforeMessage`).
    ///
    /// A watched key is only ever raised (ordered by n), so an announcement that overtook this one
    /// is not undone by it. When a key holds an n at or above this one's that is not a later
    /// announcement's (the counter was lost alone: a DEL, a partial restore, a failover), the
    /// counter is raised past it and the announcement made again, so the keys always end on a
    /// value no worker has seen. Throws when any key could not be written — the change is
    /// committed all the same (the workers' limits poll applies it within a second), and
    /// announcing again (running the command again) is safe. `shards` nil (no manifest here, e.g.
    /// a CLI without the `Queues` folder): the count the workers recorded; when none is recorded
    /// either, the global value is written and `ShardCountUnknown` thrown (no watched key raised).
    public static func announce(_ redis: RedisClient, shards: Int?, queue: String = ordersQueue) async throws {
        var floor: Int64 = 0
        for _ in 0..<8 {
            let (value, recorded) = try await next(redis, above: floor, queue: queue)
            if shards == nil, recorded == 0 { throw ShardCountUnknown(queue: queue) }
            let keys = (0..<max(0, shards ?? 0, recorded)).map { QueueKeys(queue: queue, shard: $0).watched }
            let ours = number(value)
            let after = try await raise(redis, keys: keys, to: value).filter { $0.value != value }
            // A key at our n with another value, or above the counter (not a later announcement's):
            // left from before the counter was lost.
            var behind = after.filter { $0.n == ours }.map(\.n)
            if after.contains(where: { $0.n > ours }) {
                let counter = Int64(try await redis.send("GET", counterKey).string ?? "") ?? 0
                behind += after.filter { $0.n > counter }.map(\.n)
            }
            guard let highest = behind.max() else { return }
            floor = highest
        }
        throw RedisError.unexpectedReply(command: "announce", reply: "the watched keys kept running ahead of the counter")
    }

    /// Writes the next value (n above `floor`) into `announcementKey`, in one script with the INCR;
    /// returns it with the shard count `queue`'s workers recorded (0: none).
    private static func next(_ redis: RedisClient, above floor: Int64, queue: String) async throws -> (String, Int) {
        let reply = try await redis.run(announceNext, keys: [counterKey, announcementKey, shardsKey(queue)], arguments: [newNonce(), floor])
        guard let parts = reply.array, parts.count == 2, let value = parts[0].string else {
            throw RedisError.unexpectedReply(command: "announce", reply: "not a value")
        }
        return (value, Int(parts[1].string ?? "") ?? 0)
    }

    /// Creates the watched key of `shard` of `queue` with `version`, a value `recordShards` just
    /// returned, only when the key does not exist (SET NX): a value an announcer wrote meanwhile
    /// is newer and stays. The resident worker does it for a shard whose
    /// fetch found no key, which would otherwise send every message to the announcement's read.
    /// Safe at any time: a value read there was announced after its change committed, so a worker
    /// seeing it early re-reads limits that hold it.
    public static func seedWatched(_ redis: RedisClient, version: String, shard: Int, queue: String) async throws {
        _ = try await redis.send("SET", QueueKeys(queue: queue, shard: shard).watched, version, "NX")
    }

    /// Raises each key to `value` (by n); returns each key's value after. Throws the first failure.
    private static func raise(_ redis: RedisClient, keys: [String], to value: String) async throws -> [(n: Int64, value: String)] {
        let calls = keys.map { RedisScriptCall(raiseTo, keys: [$0], arguments: [value]) }
        let replies = try await redis.withConnection { connection in
            // One pipeline per slot (a Redis Cluster node answers for its own keys).
            try calls.indicesBySlot().flatMap { try connection.runPipelined($0.map { calls[$0] }) }
        }
        return try replies.map { reply in
            let after = try reply.get().string ?? value
            return (number(after), after)
        }
    }

    /// A random nonce for an announced value: it makes the value unique even when the counter
    /// gives an n already used (Redis lost its data).
    private static func newNonce() -> String { String(UInt64.random(in: 0...UInt64.max), radix: 36) }

    /// The n of an announced value ("<n>:<nonce>"; an older plain "<n>" too).
    static func number(_ value: String) -> Int64 { Int64(value.prefix { $0 != ":" }) ?? 0 }

    /// KEYS: the counter, the announcement, the queue's recorded shards. ARGV: a nonce, a floor.
    /// n = INCR, raised above the floor and above the n the announcement holds (the counter lost
    /// alone, or an old `tm`'s plain counter) when at or below them; writes "<n>:<nonce>" and
    /// returns it with the recorded shard count.
    static let announceNext = RedisScript("""
        local n = redis.call('INCR', KEYS[1])
        local floor = tonumber(ARGV[2])
        local held = tonumber(string.match(redis.call('GET', KEYS[2]) or '', '^%d+'))
        if held and held > floor then floor = held end
        if n <= floor then n = floor + 1; redis.call('SET', KEYS[1], n) end
        local value = n .. ':' .. ARGV[1]
        redis.call('SET', KEYS[2], value)
        return {value, redis.call('GET', KEYS[3]) or '0'}
        """)

    /// KEYS: a queue's recorded shards, the announcement, the counter. ARGV: a count, a nonce.
    /// Raises the record to the count (never lowers it), then returns the announcement — first
    /// announcing "<INCR counter>:<nonce>" when there is none or it is a plain number (an old INCR).
    static let recordThenRead = RedisScript("""
        local current = tonumber(redis.call('GET', KEYS[1]))
        if not current or current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
        local value = redis.call('GET', KEYS[2])
        if not value or tonumber(value) then
            local n = redis.call('INCR', KEYS[3])
            local old = tonumber(value)
            if old and n <= old then n = old + 1; redis.call('SET', KEYS[3], n) end
            value = n .. ':' .. ARGV[2]
            redis.call('SET', KEYS[2], value)
        end
        return value
        """)

    /// KEYS: one watched key. ARGV: a value "<n>:<nonce>". Raises the key to it when the key's n is
    /// lower or the key is missing (never lowers it); returns the key's value after.
    static let raiseTo = RedisScript("""
        local current = redis.call('GET', KEYS[1])
        local n = tonumber(string.match(ARGV[1], '^%d+'))
        local held = current and tonumber(string.match(current, '^%d+'))
        if not held or held < n then redis.call('SET', KEYS[1], ARGV[1]); return ARGV[1] end
        return current
        """)

    /// The announced value (nil: nothing announced since Redis's data began).
    public static func announcedVersion(_ redis: RedisClient) async throws -> String? { try await redis.send("GET", announcementKey).string }

    public static let maxReasonLength = 500

    /// An announcement that found no shard count for `queue`: none given (no `Queues` folder) and
    /// none recorded by a worker. The global value was written; no watched key was raised.
    public struct ShardCountUnknown: Error, CustomStringConvertible, Sendable {
        public let queue: String
        public var description: String {
            "the '\(queue)' queue's shard count is unknown: no Queues folder here (its manifest) and none recorded in Redis by a worker "
                + "(\(TradingControls.shardsKey(queue))); the announcement was written, but no shard's watched key was raised"
        }
    }

    @discardableResult
    public static func set(_ db: PostgresConnection, scope: TradingScope, state: TradingState, reason: String?, by: String) throws -> TradingStateChange {
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let reason, reason.isEmpty { throw OrderCommandError("reason", "must not be empty (leave it out to record none)") }
        if let reason, reason.count > maxReasonLength { throw OrderCommandError("reason", "is \(reason.count) characters; at most \(maxReasonLength)") }
        guard !by.trimmingCharacters(in: .whitespaces).isEmpty else { throw OrderCommandError("by", "who sets the state must be named") }
        let why = reason ?? "no reason given"
        return try db.transaction { db in
            let previous: TradingState
            let at: Date
            switch scope {
            case .global:
                previous = try storedState(db.query("SELECT trading_state FROM platform_trading_controls FOR UPDATE").rows.first) ?? .active
                at = try db.query("""
                    INSERT INTO platform_trading_controls (singleton, trading_state, state_reason, state_by, state_at, updated_by)
                    VALUES (true, \(state.rawValue), \(why), \(by), now(), \(by))
                    ON CONFLICT (singleton) DO UPDATE SET trading_state = EXCLUDED.trading_state, state_reason = EXCLUDED.state_reason,
                      state_by = EXCLUDED.state_by, state_at = EXCLUDED.state_at, updated_by = EXCLUDED.updated_by
                    RETURNING state_at
                    """).rows[0].decode("state_at")
            case .account(let account):
                previous = try storedState(db.query("SELECT trading_state FROM trading_limits WHERE account_id = \(account) FOR UPDATE").rows.first) ?? .active
                let halt = state == .halted
                guard let row = try db.query("""
                    INSERT INTO trading_limits (user_id, account_id, trading_state, kill_switch, kill_switch_reason, kill_switch_at, kill_switch_by,
                                                state_reason, state_by, state_at, updated_by)
                    SELECT user_id, id, \(state.rawValue), \(halt), CASE WHEN \(halt) THEN \(why) END, CASE WHEN \(halt) THEN now() END,
                           CASE WHEN \(halt) THEN \(by) END, \(why), \(by), now(), \(by)
                    FROM broker_accounts WHERE id = \(account)
                    ON CONFLICT (account_id) WHERE account_id IS NOT NULL DO UPDATE SET
                      trading_state = EXCLUDED.trading_state, kill_switch = EXCLUDED.kill_switch,
                      -- The kill switch's own columns keep its last engagement when it is released.
                      kill_switch_reason = coalesce(EXCLUDED.kill_switch_reason, trading_limits.kill_switch_reason),
                      kill_switch_at = coalesce(EXCLUDED.kill_switch_at, trading_limits.kill_switch_at),
                      kill_switch_by = coalesce(EXCLUDED.kill_switch_by, trading_limits.kill_switch_by),
                      state_reason = EXCLUDED.state_reason, state_by = EXCLUDED.state_by, state_at = EXCLUDED.state_at,
                      updated_by = EXCLUDED.updated_by, version = trading_limits.version + 1
                    RETURNING state_at
                    """).rows.first else {
                    throw OrderCommandError("account_id", "no account \(account.uuidString.lowercased())")
                }
                at = try row.decode("state_at")
            }
            let change = TradingStateChange(scope: scope, state: state, previous: previous, reason: why, by: by, at: at)
            let entity: String
            if case .account(let id) = scope { entity = id.uuidString.lowercased() } else { entity = "global" }
            try db.execute("""
                INSERT INTO audit_log (actor, action, entity_type, entity_id, details)
                VALUES (\(by), \("trading.\(action(state))"), \(scope == .global ? "platform" : "broker_account"), \(entity), \(change.json.text)::jsonb)
                """)
            return change
        }
    }

    /// Raises one account's own trading state to `state` (as `set` does, audit row included) unless
    /// it is already at least as severe: an automatic control never lowers what an operator set (a
    /// HALTED account stays HALTED). Returns the change, nil when the state was left as it was. The
    /// account's row is locked from the look to the write, so an operator's concurrent halt is
    /// either seen here or applied after this.
    @discardableResult
    public static func raise(_ db: PostgresConnection, account: UUID, to state: TradingState, reason: String, by: String) throws -> TradingStateChange? {
        try db.transaction { db in
            // A row to lock (an account without one is ACTIVE; a row of NULL limits changes no limit).
            try db.execute("""
                INSERT INTO trading_limits (user_id, account_id) SELECT user_id, id FROM broker_accounts WHERE id = \(account)
                ON CONFLICT (account_id) WHERE account_id IS NOT NULL DO NOTHING
                """)
            let row = try db.query("SELECT trading_state FROM trading_limits WHERE account_id = \(account) FOR UPDATE").rows.first
            guard let current = try storedState(row) else { throw OrderCommandError("account_id", "no account \(account.uuidString.lowercased())") }
            guard current < state else { return nil }
            return try set(db, scope: .account(account), state: state, reason: reason, by: by)
        }
    }

    /// The CLI's word for a state: halt, reduce, resume.
    public static func action(_ state: TradingState) -> String {
        switch state {
        case .halted: return "halt"
        case .reducing: return "reduce"
        case .active: return "resume"
        }
    }

    private static func storedState(_ row: PostgresRow?) throws -> TradingState? {
        guard let row else { return nil }
        let text: String = try row.decode("trading_state")
        return TradingState(rawValue: text)
    }
}
