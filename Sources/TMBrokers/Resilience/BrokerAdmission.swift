import Foundation
import TMRedis

/// Whether one broker call may go out now: its circuit (`CircuitBreaker`) and its budget
/// (`RateLimiter`) checked and taken by ONE Redis script — one round trip and one script run per
/// broker call on the order path, where the breaker's `allow` and the budget's acquire were two (and
/// one for several calls of a broker asked at once: `CoalescedAdmissions`).
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

    /// KEYS: [breaker hash] then the grant logs — the breaker per ARGV[1]
    /// ARGV: checks ('circuit' | 'budget' | 'both', for every call), cooldown ms, then per call:
    ///       its log's index in KEYS (0: none), member, log ttl ms, log size, n, then n × (-limit, window ms)
    /// → per call, in order: {1, circuit, failures, now} | {0, 'open', wait ms} | {0, 'budget', wait ms}
    ///
    /// Several calls in one run (`CoalescedAdmissions`) are decided one after another, each seeing the
    /// grants and the probe the earlier ones took, at the one server time: exactly what the calls
    /// would get one by one within that millisecond.
    ///
    /// The log keeps the newest `log size` (the largest limit) grants: a limit of L per window W is
    /// spent exactly when the L-th newest grant is younger than W (then W − its age is the wait),
    /// so one ZRANGE by rank per limit decides, and older grants are never needed. The limits come
    /// smallest first, and the first one whose L-th newest grant is missing ends the checks: a log
    /// holding fewer than L grants holds fewer than any larger limit too, so none of them can be
    /// spent (Kite's orders: an account with under 400 grants on record costs one ZRANGE, not three).
    static let script = RedisScript("""
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local breaker
        if ARGV[1] ~= 'budget' then breaker = KEYS[1] end
        -- one call: its log, member, log ttl and size, and its limits at ARGV[first..last]
        local function admit(log, member, ttl, size, first, last)
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
            for i = first, last, 2 do
              -- the limit-th newest grant, if the log holds that many
              local nth = redis.call('ZRANGE', log, ARGV[i], ARGV[i], 'WITHSCORES')
              if not nth[2] then break end
              if ARGV[i] == '-' .. size then full = true end
              local left = tonumber(nth[2]) + tonumber(ARGV[i + 1]) - now
              if left > 0 then wait = math.max(wait, left + 1) end
            end
            if wait > 0 then return {0, 'budget', wait} end
          end
          if state ~= 'closed' then
            -- past the cooldown: this call is the probe (one probe lost with its process frees the
            -- turn after another cooldown; a later call of this run finds it out and is refused)
            redis.call('HSET', breaker, 'state', 'half_open', 'since', now)
            state = 'half_open'
          end
          if log then
            redis.call('ZADD', log, now, member)
            if full then redis.call('ZREMRANGEBYRANK', log, 0, '-' .. (tonumber(size) + 1)) end
            redis.call('PEXPIRE', log, ttl)
          end
          return {1, state, failures, now}
        end
        local replies, at = {}, 3
        while at <= #ARGV do
          local log
          if ARGV[at] ~= '0' then log = KEYS[tonumber(ARGV[at])] end
          local last = at + 4 + 2 * tonumber(ARGV[at + 4])
          replies[#replies + 1] = admit(log, ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], at + 5, last)
          at = last + 1
        end
        return replies
        """)

    /// A budget to take one unit of: its grant log and its limits.
    typealias Budget = (key: String, limits: [RateLimit])

    /// The script's keys and arguments for one call.
    static func call(breaker: CircuitBreaker?, budget: Budget?) -> RedisScriptCall {
        call(breaker: breaker, checkingBudgets: budget != nil, [budget])
    }

    /// The script's keys and arguments for calls decided in order in one run: each its own fresh
    /// grant member, its limits smallest first (as the script's early stop needs). `budgets`: per
    /// call, its budget (nil when `checkingBudgets` is false: the circuit alone).
    static func call(breaker: CircuitBreaker?, checkingBudgets: Bool, _ budgets: [Budget?]) -> RedisScriptCall {
        let checks: Checks = breaker == nil ? .budget : checkingBudgets ? .both : .circuit
        var keys: [any RedisArgumentConvertible] = []
        if let breaker { keys.append(breaker.key) }
        var arguments: [any RedisArgumentConvertible] = [checks.rawValue, breaker?.settings.cooldown.milliseconds ?? 0]
        var logs: [String: Int] = [:]
        for budget in budgets {
            guard let budget else {
                arguments += [0, "\(UInt64.random(in: 0...UInt64.max))", 0, 0, 0]
                continue
            }
            // Calls of one account share its log's key (KEYS is 1-based).
            let index = logs[budget.key] ?? keys.count + 1
            if index > keys.count { keys.append(budget.key); logs[budget.key] = index }
            arguments += [index, "\(UInt64.random(in: 0...UInt64.max))",
                          (budget.limits.map(\.window.milliseconds).max() ?? 0) + 1000, budget.limits.map(\.limit).max() ?? 0, budget.limits.count]
            for limit in budget.limits.sorted(by: { $0.limit < $1.limit }) { arguments += ["-\(limit.limit)", limit.window.milliseconds] }
        }
        return RedisScriptCall(script, keys: keys, arguments: arguments)
    }

    /// What the script's reply says, per call in the order asked.
    static func outcomes(_ reply: RedisValue) -> [Outcome] {
        (reply.array ?? []).map(outcome)
    }

    /// What one call's part of the reply says.
    static func outcome(_ reply: RedisValue) -> Outcome {
        let parts = reply.array ?? []
        guard parts.count == 4, parts[0].int == 1 else {
            let wait = Duration.milliseconds(parts.count == 3 ? parts[2].int ?? 1 : 1)
            return parts.count == 3 && parts[1].string == "open" ? .circuitOpen(retryAfter: wait) : .budgetSpent(retryAfter: wait)
        }
        return .admitted(atMillis: parts[3].int ?? 0, recordSuccess: parts[1].string != "closed" || (parts[2].int ?? 1) > 0)
    }

    /// The one call's outcome of a run of one (a reply without it is a refusal, as before).
    private static func only(_ reply: RedisValue) -> Outcome {
        outcomes(reply).first ?? outcome(reply)
    }

    static func run(_ redis: RedisClient, breaker: CircuitBreaker?, budget: (key: String, limits: [RateLimit])?) async throws -> Outcome {
        let call = call(breaker: breaker, budget: budget)
        return only(try await redis.run(script, keys: call.keys, arguments: call.arguments))
    }

    /// The same on a connection the caller's thread owns (`BrokerLanes`: the admission and the
    /// request in one job).
    static func run(on connection: RedisConnection, breaker: CircuitBreaker?, budget: (key: String, limits: [RateLimit])?) throws -> Outcome {
        let call = call(breaker: breaker, budget: budget)
        return only(try connection.run(script, keys: call.keys, arguments: call.arguments))
    }

    /// Calls of `breaker`, each with its budget, decided in order by one run on `connection`
    /// (`CoalescedAdmissions`): one outcome per call, in order.
    static func run(on connection: RedisConnection, breaker: CircuitBreaker, budgets: [Budget]) throws -> [Outcome] {
        let call = call(breaker: breaker, checkingBudgets: true, budgets)
        return outcomes(try connection.run(script, keys: call.keys, arguments: call.arguments))
    }
}
