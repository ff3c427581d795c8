import Foundation
import TMRedis

/// Whether one broker call may go out now: its circuit (`CircuitBreaker`) and its budget
/// (`RateLimiter`) checked and taken by ONE Redis script — one round trip and one script run per
/// broker call on the order path, where the breaker's `allow` and the budget's acquire were two.
/// `CircuitBreaker.allow` (circuit only) and `RateLimiter.tryAcquire` (budget only) run the same
/// script, so the three can never disagree on what "open" or "spent" means.
///
/// Guarantees (each decided atomically, with the Redis server's clock):
/// - an open circuit (within its cooldown, or half-open with its probe out) refuses the call and
///   takes nothing from the budget;
/// - a spent budget refuses the call and leaves the circuit as it was: the half-open probe's turn
///   is taken only by a call that really goes out;
/// - the budget: in ANY window of a limit's length at most `limit` calls are granted, all limits
///   checked and taken together or not at all (see `RateLimiter`).
///
/// Cluster: the grant log of a budget checked together with a circuit lives under the breaker's
/// hash tag (`RateLimiter.key(_:sharingSlotWith:)`), so the script's two keys are one slot.
enum BrokerAdmission {
    /// What the script is asked to check.
    enum Checks: String { case circuit, budget, both }

    enum Outcome: Sendable, Equatable {
        /// Let through at the Redis server's time. `recordSuccess`: whether the call's success must be
        /// written to the breaker — a probe's closes the circuit, and a success clears failures on
        /// record; a call through a closed circuit with none on record has nothing to change (one
        /// Redis call saved per broker call on the order path).
        case admitted(atMillis: Int64, recordSuccess: Bool)
        case circuitOpen(retryAfter: Duration)
        case budgetSpent(retryAfter: Duration)
    }

    /// KEYS: [breaker hash] [grant log] — which of them per ARGV[1]
    /// ARGV: checks ('circuit' | 'budget' | 'both'), cooldown ms, member, log ttl ms, log size,
    ///       then per limit: (-limit, window ms)
    /// → now (let through a closed circuit with no failures on record: nothing to record — the
    ///   common answer as a bare integer, no table for the script to build nor the client to read) |
    ///   {1, circuit, failures, now} (let through otherwise) | {0, 'open', wait ms} | {0, 'budget', wait ms}
    ///
    /// The log keeps the newest `log size` (the largest limit) grants: a limit of L per window W is
    /// spent exactly when the L-th newest grant is younger than W (then W − its age is the wait),
    /// so one ZRANGE by rank per limit decides, and older grants are never needed. The limits come
    /// smallest first, and the first one whose L-th newest grant is missing ends the checks: a log
    /// holding fewer than L grants holds fewer than any larger limit too, so none of them can be
    /// spent (Kite's orders: an account with under 400 grants on record costs one ZRANGE, not three).
    ///
    /// The log lives at least its longest window + 1 s (ARGV[4], the log ttl) past its newest grant,
    /// so no grant a window can still count ever expires. Its expiry is written only when a grant
    /// finds less than that left, and then set to twice that: one `PEXPIRE` per log per log ttl
    /// rather than one per grant — a grant's only write is its `ZADD` (a `PTTL` is a read: nothing
    /// for the AOF or a replica, and no MULTI/EXEC around one command). An idle log so lingers up
    /// to twice the log ttl (Kite's orders: two days and two seconds, at most 5,000 grants).
    static let script = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local breaker, log
        if ARGV[1] ~= 'budget' then breaker = KEYS[1] end
        if ARGV[1] ~= 'circuit' then log = KEYS[#KEYS] end
        local state, failures = 'closed', 0
        if breaker then
          local b = redis.call('HMGET', breaker, 'state', 'since', 'failures')
          state, failures = b[1] or 'closed', tonumber(b[3] or '0')
          -- open, or half-open with its probe out: refused until the cooldown has passed
          if state ~= 'closed' then
            local reopens = tonumber(b[2] or '0') + tonumber(ARGV[2])
            if now < reopens then return {0, 'open', reopens - now} end
          end
        end
        local full = false
        if log then
          local wait = 0
          for i = 6, #ARGV, 2 do
            -- the limit-th newest grant, if the log holds that many
            local nth = redis.call('ZRANGE', log, ARGV[i], ARGV[i], 'WITHSCORES')
            if not nth[2] then break end
            if ARGV[i] == '-' .. ARGV[5] then full = true end
            local left = tonumber(nth[2]) + tonumber(ARGV[i + 1]) - now
            if left > 0 then wait = math.max(wait, left + 1) end
          end
          if wait > 0 then return {0, 'budget', wait} end
        end
        if state ~= 'closed' then
          -- past the cooldown: this call is the probe (one probe lost with its process frees the
          -- turn after another cooldown)
          redis.call('HSET', breaker, 'state', 'half_open', 'since', now)
          state = 'half_open'
        end
        if log then
          -- The score is the server's millisecond as integer text (`now`, exactly): a Lua number
          -- passed to redis.call is formatted with %.17g (Redis 7.0), ~3k instructions more a grant.
          redis.call('ZADD', log, string.format('%d', now), ARGV[3])
          if full then redis.call('ZREMRANGEBYRANK', log, 0, '-' .. (tonumber(ARGV[5]) + 1)) end
          -- The log outlives its newest grant by at least ARGV[4] (the longest window + 1 s): its
          -- expiry is moved only when less than that is left (a new log has none: -1), then to twice that.
          local keep = tonumber(ARGV[4])
          if redis.call('PTTL', log) < keep then redis.call('PEXPIRE', log, 2 * keep) end
        end
        if state == 'closed' and failures == 0 then return now end
        return {1, state, failures, now}
        """)

    /// The script's keys and arguments for one call (one fresh grant member per call; the limits
    /// smallest first, as the script's early stop needs).
    static func call(breaker: CircuitBreaker?, budget: (key: String, limits: [RateLimit])?) -> RedisScriptCall {
        let checks: Checks = breaker == nil ? .budget : budget == nil ? .circuit : .both
        var keys: [any RedisArgumentConvertible] = []
        if let breaker { keys.append(breaker.key) }
        var arguments: [any RedisArgumentConvertible] = [checks.rawValue, breaker?.settings.cooldown.milliseconds ?? 0,
                                                         "\(UInt64.random(in: 0...UInt64.max))"]
        if let budget {
            keys.append(budget.key)
            arguments += [(budget.limits.map(\.window.milliseconds).max() ?? 0) + 1000, budget.limits.map(\.limit).max() ?? 0]
            for limit in budget.limits.sorted(by: { $0.limit < $1.limit }) { arguments += ["-\(limit.limit)", limit.window.milliseconds] }
        } else {
            arguments += [0, 0]
        }
        return RedisScriptCall(script, keys: keys, arguments: arguments)
    }

    /// What the script's reply says.
    static func outcome(_ reply: RedisValue) -> Outcome {
        if case .integer(let now) = reply { return .admitted(atMillis: now, recordSuccess: false) }
        let parts = reply.array ?? []
        guard parts.count == 4, parts[0].int == 1 else {
            let wait = Duration.milliseconds(parts.count == 3 ? parts[2].int ?? 1 : 1)
            return parts.count == 3 && parts[1].string == "open" ? .circuitOpen(retryAfter: wait) : .budgetSpent(retryAfter: wait)
        }
        return .admitted(atMillis: parts[3].int ?? 0, recordSuccess: parts[1].string != "closed" || (parts[2].int ?? 1) > 0)
    }

    static func run(_ redis: RedisClient, breaker: CircuitBreaker?, budget: (key: String, limits: [RateLimit])?) async throws -> Outcome {
        let call = call(breaker: breaker, budget: budget)
        return outcome(try await redis.run(script, keys: call.keys, arguments: call.arguments))
    }

    /// The same on a connection the caller's thread owns (`BrokerLanes`: the admission and the
    /// request in one job).
    static func run(on connection: RedisConnection, breaker: CircuitBreaker?, budget: (key: String, limits: [RateLimit])?) throws -> Outcome {
        let call = call(breaker: breaker, budget: budget)
        return outcome(try connection.run(script, keys: call.keys, arguments: call.arguments))
    }
}
