import Foundation
import TMCore
import TMCrypto
import TMRedis

/// Distributed mutual exclusion over Redis, with fencing tokens for the writes made under it.
///
/// Keys (one hash tag per resource, so the scripts stay cluster-safe):
/// `tm:{lock:<resource>}:owner` holds the holder's random token with a PX expiry;
/// `tm:{lock:<resource>}:fence` is an INCR counter that never expires.
///
/// Guarantees:
/// - At most one holder per resource at a time, as far as Redis knows: acquisition is `SET NX PX`.
/// - The fencing token is incremented in the same script as the acquisition, so every holder gets a
///   token strictly greater than all earlier holders' (as long as Redis keeps the fence key; after a
///   Redis data loss, raise the counter above `lock_fences.token` before taking locks again).
/// - `release` and `extend` compare the owner token first (one script each): a holder whose lease
///   expired and was taken over can neither delete nor prolong the new holder's lock.
/// - Redis expiry alone cannot stop a paused ex-holder from writing late: guard its Postgres writes
///   with `FencingGuard`, which refuses a token older than one already written.
/// - `withLock` (and `hold`, its keeper, which every lease holder uses) renews the lease while its
///   body runs and cancels the body once the lease is (or may be) lost; it returns or throws only
///   after the body has stopped, and `withLock` always releases.
public struct DistributedLock: Sendable {
    public let redis: RedisClient

    public init(redis: RedisClient) {
        self.redis = redis
    }

    public static func ownerKey(_ resource: String) -> String { "tm:{lock:\(resource)}:owner" }
    public static func fenceKey(_ resource: String) -> String { "tm:{lock:\(resource)}:fence" }

    // KEYS: owner, fence. ARGV: token, ttl ms. Returns the new fencing token, or nil when held.
    static let acquireScript = RedisScript("""
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return redis.call('INCR', KEYS[2])
        end
        return false
        """)

    // KEYS: owner. ARGV: token. Deletes only our own lock: 1 when deleted, 0 otherwise.
    static let releaseScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        """)

    // KEYS: owner. ARGV: token, ttl ms. Prolongs only our own lock: 1 when extended, 0 otherwise.
    static let extendScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        end
        return 0
        """)

    /// One attempt: the lease when the lock was free, nil when someone holds it.
    /// If the reply is lost (a connection error is thrown) the lock may have been taken for nobody;
    /// it then frees itself after `ttl`.
    public func tryAcquire(_ resource: String, ttl: Duration) async throws -> LockLease? {
        try await tryAcquire(resource, ttl: ttl, token: try SecureRandom.hexToken(byteCount: 16))
    }

    private func tryAcquire(_ resource: String, ttl: Duration, token: String) async throws -> LockLease? {
        Self.check(resource, ttl)
        // Taken before sending, so the local expiry estimate errs early, never late.
        let sentAt = ContinuousClock.now
        let reply = try await redis.run(
            Self.acquireScript, keys: [Self.ownerKey(resource), Self.fenceKey(resource)],
            arguments: [token, ttl.milliseconds])
        if reply.isNull { return nil }
        guard let fencingToken = reply.int else {
            throw RedisError.unexpectedReply(command: "lock acquire script", reply: reply.description)
        }
        return LockLease(resource: resource, token: token, fencingToken: fencingToken, ttl: ttl, acquiredAt: sentAt)
    }

    /// Retries `tryAcquire` with jittered backoff until it succeeds or `waitUpTo` has passed
    /// (`.zero`: one attempt). Throws `LockError.notAcquired` at the deadline, `CancellationError`
    /// when the task is cancelled, and Redis errors as they come.
    public func acquire(_ resource: String, ttl: Duration, waitUpTo: Duration = .zero) async throws -> LockLease {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + waitUpTo
        var delay = Duration.milliseconds(10)
        while true {
            if let lease = try await tryAcquire(resource, ttl: ttl) { return lease }
            let now = clock.now
            guard now < deadline else { throw LockError.notAcquired(resource: resource, waited: now - start) }
            // Jitter spreads contenders out, so they do not all retry in the same instant.
            let maxMs = max(delay.milliseconds, 2)
            let jittered = Duration.milliseconds(Int64.random(in: (maxMs / 2)...maxMs))
            try await Task.sleep(for: min(jittered, deadline - now))
            delay = min(delay * 2, .milliseconds(250))
        }
    }

    /// Deletes the lock if this lease still owns it. False when it had expired or was taken over.
    @discardableResult
    public func release(_ lease: LockLease) async throws -> Bool {
        let reply = try await redis.run(Self.releaseScript, keys: [Self.ownerKey(lease.resource)], arguments: [lease.token])
        return reply.int == 1
    }

    /// Sets the lock's expiry to `ttl` from now (default: the lease's ttl) if this lease still owns it.
    /// Returns the renewed lease, or nil when the lock was lost (expired, released or taken over).
    public func extend(_ lease: LockLease, ttl: Duration? = nil) async throws -> LockLease? {
        let ttl = ttl ?? lease.ttl
        Self.check(lease.resource, ttl)
        let sentAt = ContinuousClock.now
        let reply = try await redis.run(
            Self.extendScript, keys: [Self.ownerKey(lease.resource)], arguments: [lease.token, ttl.milliseconds])
        guard reply.int == 1 else { return nil }
        return LockLease(
            resource: lease.resource, token: lease.token, fencingToken: lease.fencingToken, ttl: ttl, acquiredAt: sentAt)
    }

    /// Acquires the lock (waiting up to `waitUpTo`), runs `body` while renewing the lease every
    /// ttl/3 (`hold`), and releases the lock when the body returns or throws (waiting for the
    /// release at most one ttl, after which the lock has expired anyway).
    ///
    /// When a renewal finds the lock gone, or cannot reach Redis before the lease's estimated expiry,
    /// the body is cancelled and `LockError.leaseLost` is thrown. Cancellation is cooperative: this
    /// returns only after the body has stopped, so the body must check for cancellation (sleeps,
    /// pool waits and `Task.checkCancellation()` do). Writes it makes to Postgres should still be
    /// guarded with the lease's fencing token: a process pause can outlast any timer.
    public func withLock<T: Sendable>(
        _ resource: String, ttl: Duration, waitUpTo: Duration = .zero,
        _ body: @escaping @Sendable (LockLease) async throws -> T
    ) async throws -> T {
        let lease = try await acquire(resource, ttl: ttl, waitUpTo: waitUpTo)
        let result: Result<T, any Error>
        do {
            result = .success(try await hold(lease) { held in try await body(held.lease) })
        } catch {
            result = .failure(error)
        }
        // Always sent, even when cancelled, but waited for at most one ttl: by then the lock has
        // expired whatever becomes of the release (an unreachable Redis must not hold up the caller).
        _ = await awaitUntil(.now + ttl) { try await release(lease) }
        return try result.get()
    }

    private enum Ending<T: Sendable>: Sendable {
        case finished(T)
        case leaseLost
    }

    /// Runs `body` while renewing `lease` every ttl/3 — the one lease keeper every holder uses (the
    /// scheduler's leadership, per-account syncs) — calling `onRenewal` after each renewal. The
    /// body sees the lease as last renewed (`HeldLease`). When the lease is lost (see `withLock`)
    /// it is marked lost at once, the body is cancelled, and `LockError.leaseLost` is thrown once
    /// the body has stopped. Does not release the lock: the caller does (or lets it expire).
    public func hold<T: Sendable>(
        _ lease: LockLease, onRenewal: (@Sendable (LockLease) async -> Void)? = nil,
        _ body: @escaping @Sendable (HeldLease) async throws -> T
    ) async throws -> T {
        let held = HeldLease(lease)
        return try await withThrowingTaskGroup(of: Ending<T>.self) { group in
            group.addTask { .finished(try await body(held)) }
            group.addTask {
                try await keepAlive(held, onRenewal: onRenewal)
                return .leaseLost
            }
            // Whichever ends first decides; the other is cancelled and awaited when the group exits.
            defer { group.cancelAll() }
            switch try await group.next()! {
            case .finished(let value): return value
            case .leaseLost: throw LockError.leaseLost(resource: lease.resource)
            }
        }
    }

    /// Renews the lease every ttl/3. Returns (having marked it lost) when the lease is lost or may
    /// have expired; throws `CancellationError` when cancelled (the body finished).
    private func keepAlive(_ held: HeldLease, onRenewal: (@Sendable (LockLease) async -> Void)?) async throws {
        let interval = held.lease.ttl / 3
        var current = held.lease
        var nextRenewal = current.acquiredAt + interval
        while true {
            try await Task.sleep(until: nextRenewal, clock: .continuous)
            let attempt = current
            // A hung Redis call must not outlive the lease: past `expiresAt` it may be someone else's.
            switch await awaitUntil(current.expiresAt, { try await extend(attempt) }) {
            case .finished(.success(let renewed?)):
                current = renewed
                held.renewed(renewed)
                await onRenewal?(renewed)
                nextRenewal = renewed.acquiredAt + interval
            case .finished(.success(nil)), .deadlinePassed:
                held.lose()
                return
            case .finished(.failure):
                // Redis errored, but the lock may still be ours until `expiresAt`: retry soon.
                let now = ContinuousClock.now
                if now >= current.expiresAt {
                    held.lose()
                    return
                }
                nextRenewal = min(now + interval / 4, current.expiresAt)
            case .cancelled:
                throw CancellationError()
            }
        }
    }

    private static func check(_ resource: String, _ ttl: Duration) {
        precondition(!resource.isEmpty, "a lock needs a resource name")
        precondition(ttl >= .milliseconds(1), "a lock's ttl must be at least 1 ms")
    }
}
