import Foundation
import Logging
import TMCore
import TMRedis

/// A function's reserved concurrency, counted in Redis so that every dispatcher on every machine
/// shares one limit.
///
/// A sorted set per function holds the slots taken, each scored by the time its lease expires.
/// Leases are short (`lease`, default 6 s) and renewed by the dispatcher's one renewal loop
/// (`renew()`, every third of the lease) while the slot is held, so a long invocation keeps its
/// slot for as long as it runs, and a dispatcher that dies (SIGKILL, lost machine) frees its slots
/// within one lease instead of holding them for a whole timeout.
///
/// Slots are kept in blocks: one acquire takes a slot for every invocation waiting here, and a slot
/// given back goes to the next invocation waiting here, or stays spare for `linger` (under load the
/// next invocation comes within a millisecond) before it returns to Redis. A busy dispatcher thus
/// pays no Redis round trip per invocation for its slot; an idle one holds none for long.
///
/// Guarantees: at most `limit` unexpired slots exist at any moment across dispatchers (acquire is
/// one atomic script counting every slot taken, spare ones included); every slot this dispatcher
/// holds is renewed until it goes back to Redis; a slot found expired at renewal (the dispatcher
/// was paused past its lease) is dropped, never resurrected over the limit nor reused;
/// `release` only gives back this dispatcher's own slots.
public final class ReservedConcurrency: Sendable {
    /// Long enough to ride out a missed renewal or two, short enough that a dead dispatcher's slots
    /// are free within seconds.
    public static let defaultLease: Duration = .seconds(6)
    public static let defaultLinger: Duration = .milliseconds(25)

    public let function: String
    public let limit: Int
    /// How long a slot lives past its last renewal.
    public let lease: Duration
    /// How long a slot given back stays spare for this dispatcher's next invocation.
    public let linger: Duration
    private let redis: RedisClient
    private let state = Locked(State())
    private let logger: Logger

    private struct State {
        /// Slots this dispatcher has in Redis: running an invocation, or spare.
        var held: Set<String> = []
        var spare: [(slot: String, since: ContinuousClock.Instant)] = []
        var waiters: [Waiter] = []
        var nextWaiter: UInt64 = 0
        var returning = false
        var lost = 0
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<String?, Never>
    }

    public init(function: String, limit: Int, lease: Duration = defaultLease, linger: Duration = defaultLinger, redis: RedisClient) {
        self.function = function
        self.limit = limit
        self.lease = lease
        self.linger = linger
        self.redis = redis
        var logger = Logger(label: "tm.dispatch.concurrency")
        logger[metadataKey: "function"] = .string(function)
        self.logger = logger
    }

    public var key: String { Self.key(function) }
    public static func key(_ function: String) -> String { "tm:{fn:\(function)}:running" }

    /// The key lives as long as its longest lease (a renewal by any dispatcher keeps it).
    private static let now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """
    private static let keepKey = """
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        if last[2] then redis.call('PEXPIRE', KEYS[1], math.max(tonumber(last[2]) - now, 1)) end
        """

    /// Takes as many of the offered slots as the limit leaves room for. Times are the Redis
    /// server's, so dispatchers with skewed clocks still agree on expiry.
    /// KEYS: running. ARGV: limit, lease ms, slot... → number taken (the first ones offered)
    static let acquireScript = RedisScript([now, """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local room = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
        local taken = 0
        for i = 3, #ARGV do
          if taken >= room then break end
          redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i])
          taken = taken + 1
        end
        """, keepKey, "return taken"].joined(separator: "\n"))

    /// Extends the lease of slots still present. A present slot, even one just past its score, was
    /// not counted out by any acquire since (acquire removes expired slots first), so renewing it
    /// cannot exceed the limit; a missing one is lost.
    /// KEYS: running. ARGV: lease ms, slot... → the lost slots
    static let renewScript = RedisScript([now, """
        local lost = {}
        for i = 2, #ARGV do
          if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
            redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
          else
            lost[#lost + 1] = ARGV[i]
          end
        end
        """, keepKey, "return lost"].joined(separator: "\n"))

    /// Waits for a slot (a spare one, one given back here, or a new one from Redis, polling with a
    /// short backoff), or returns nil when `shouldStop` says so. Give it back with `release`.
    public func acquire(shouldStop: @escaping @Sendable () -> Bool = { false }) async throws -> String? {
        var pause = Duration.milliseconds(2)
        while !shouldStop() {
            if let slot = takeSpare() { return slot }
            if let slot = try await takeFromRedis() { return slot }
            if let slot = await waitForGivenBack(upTo: pause) { return slot }
            pause = min(pause * 2, .milliseconds(50))
        }
        return nil
    }

    /// Takes a slot if one is free now (spare here, or in Redis).
    public func tryAcquire() async throws -> String? {
        if let slot = takeSpare() { return slot }
        return try await takeFromRedis()
    }

    /// Gives a slot back: to an invocation waiting here, else spare for `linger`, then to Redis.
    public func release(_ slot: String) {
        let (waiter, startReturning) = state.withLock { state -> (Waiter?, Bool) in
            guard state.held.contains(slot) else { return (nil, false) }  // lost at renewal: never reused
            if !state.waiters.isEmpty { return (state.waiters.removeFirst(), false) }
            state.spare.append((slot, .now))
            guard !state.returning else { return (nil, false) }
            state.returning = true
            return (nil, true)
        }
        waiter?.continuation.resume(returning: slot)
        if startReturning { Task { await self.returnSpares() } }
    }

    /// Renews every slot this dispatcher holds, in one script call; slots found gone are dropped.
    public func renew() async throws {
        let held = state.withLock { Array($0.held) }
        guard !held.isEmpty else { return }
        let reply = try await redis.run(Self.renewScript, keys: [key], arguments: [lease.milliseconds as any RedisArgumentConvertible] + held.map { $0 as any RedisArgumentConvertible })
        let lost = Set((reply.array ?? []).compactMap(\.string))
        guard !lost.isEmpty else { return }
        state.withLock { state in
            state.held.subtract(lost)
            state.spare.removeAll { lost.contains($0.slot) }
            state.lost += lost.count
        }
        logger.error("concurrency slots expired before renewal (dispatcher paused past its lease?); their invocations run on",
                     metadata: ["lost": "\(lost.count)", "lease_ms": "\(lease.milliseconds)"])
    }

    /// Returns every slot held here to Redis (at shutdown, once no invocation runs).
    public func releaseAll() async {
        let held = state.withLock { state -> [String] in
            defer { state.held.removeAll(); state.spare.removeAll() }
            return Array(state.held)
        }
        guard !held.isEmpty else { return }
        do { try await redis.send(RedisCommand("ZREM", arguments: ([key] + held).map { $0 as any RedisArgumentConvertible })) } catch {
            logger.warning("could not release concurrency slots; they expire on their own", metadata: ["error": "\(error)"])
        }
    }

    /// Slots held here (running or spare), and slots lost at renewal so far.
    public var held: Int { state.withLock { $0.held.count } }
    public var lost: Int { state.withLock { $0.lost } }

    /// Invocations holding a slot right now, across dispatchers (expired slots excluded).
    public func running() async throws -> Int {
        let time = try await redis.send("TIME").array ?? []
        let now = (Int64(time.first?.string ?? "") ?? 0) * 1000 + (Int64(time.last?.string ?? "") ?? 0) / 1000
        return Int(try await redis.send("ZCOUNT", key, "(\(now)", "+inf").int ?? 0)
    }

    // MARK: - Internals

    private func takeSpare() -> String? {
        state.withLock { $0.spare.popLast()?.slot }
    }

    /// One script call for this invocation and every one waiting here: the extra slots go to them.
    private func takeFromRedis() async throws -> String? {
        let wanted = min(limit, 1 + state.withLock { $0.waiters.count })
        let offered = (0..<wanted).map { _ in UUID().uuidString.lowercased() }
        let reply = try await redis.run(Self.acquireScript, keys: [key], arguments: [limit as any RedisArgumentConvertible, lease.milliseconds] + offered.map { $0 as any RedisArgumentConvertible })
        let taken = Array(offered.prefix(Int(reply.int ?? 0)))
        guard let mine = taken.first else { return nil }
        state.withLock { $0.held.formUnion(taken) }
        for extra in taken.dropFirst() { release(extra) }
        return mine
    }

    /// Waits up to `pause` for a slot given back by another invocation of this dispatcher.
    private func waitForGivenBack(upTo pause: Duration) async -> String? {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withCheckedContinuation { continuation in
            let spare = state.withLock { state -> String? in
                if let spare = state.spare.popLast() { return spare.slot }
                state.waiters.append(Waiter(id: id, continuation: continuation))
                return nil
            }
            if let spare {
                continuation.resume(returning: spare)
                return
            }
            Task {
                try? await Task.sleep(for: pause)
                let waiter = self.state.withLock { state -> Waiter? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index)
                }
                waiter?.continuation.resume(returning: nil)
            }
        }
    }

    /// Returns slots spare for longer than `linger` to Redis, until none is spare.
    private func returnSpares() async {
        while true {
            try? await Task.sleep(for: linger)
            let (stale, done) = state.withLock { state -> ([String], Bool) in
                let cutoff = ContinuousClock.now - linger
                let stale = state.spare.filter { $0.since <= cutoff }.map(\.slot)
                state.spare.removeAll { $0.since <= cutoff }
                state.held.subtract(stale)
                if state.spare.isEmpty { state.returning = false }
                return (stale, state.spare.isEmpty)
            }
            if !stale.isEmpty {
                // Not held any more, so no longer renewed: if this fails they expire within a lease.
                _ = try? await redis.send(RedisCommand("ZREM", arguments: ([key] + stale).map { $0 as any RedisArgumentConvertible }))
            }
            if done { return }
        }
    }
}
