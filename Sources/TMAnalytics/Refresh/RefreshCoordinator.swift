import Foundation
import TMQueue
import TMRedis

/// Debounces analytics recomputes per user across every invocation of analytics-refresh, in Redis
/// (`CacheKeys.analyticsRefresh`: one hash per user).
///
/// Protocol: each trade event *marks* its user (`pending` += 1; the mark's number is the event's
/// ticket). A ticket is *covered* once a recompute finishes that read the user's trades after the
/// ticket was taken. One invocation at a time *holds* a user (a lease): it waits a short settle
/// window so the rest of a burst can mark, reads `pending` (its target), recomputes, then raises
/// `done` to the target. The others wait until `done` covers their ticket — or take the lease over
/// when it lapses (a holder that died).
///
/// Guarantees: every marked event is followed by a recompute that started reading after the event
/// was marked (so after its trade committed: events are published after their commit) before its
/// invocation reports success; a burst of one user's events, however many invocations carry it,
/// costs one recompute — two when events keep arriving while the first runs — never one per event.
/// A holder whose lease lapsed mid-recompute may overlap with the next holder: a duplicate
/// recompute, never a lost one (recomputes are idempotent).
public struct RefreshCoordinator: Sendable {
    public let redis: RedisClient
    /// How long a holder owns a user before another invocation may take over.
    public var lease: Duration = .seconds(15)
    /// How long the marks of a user live after the last one (an idle user's hash disappears).
    public var idleTTL: Duration = .seconds(3600)

    public init(redis: RedisClient) { self.redis = redis }

    static func key(_ user: UUID) -> String { CacheKeys.analyticsRefresh(user: user.uuidString.lowercased()) }

    private static let markScript = RedisScript("""
        local ticket = redis.call('HINCRBY', KEYS[1], 'pending', 1)
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
        return ticket
        """)

    /// `done` when the ticket is covered, `busy` while another invocation holds the user, else the
    /// caller now holds it (`claimed`).
    private static let claimScript = RedisScript("""
        local done = tonumber(redis.call('HGET', KEYS[1], 'done') or '0')
        if done >= tonumber(ARGV[1]) then return 'done' end
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local holder = redis.call('HGET', KEYS[1], 'holder')
        local leased = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
        if holder and holder ~= ARGV[2] and leased > now then return 'busy' end
        redis.call('HSET', KEYS[1], 'holder', ARGV[2], 'lease_until', now + tonumber(ARGV[3]))
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        return 'claimed'
        """)

    /// The tickets a recompute starting now covers: `pending`.
    private static let targetScript = RedisScript("""
        return tonumber(redis.call('HGET', KEYS[1], 'pending') or '0')
        """)

    /// Raises `done` to the target (never lowers it; not into a hash that expired meanwhile, whose
    /// tickets restarted) and gives the lease back if still the holder. ARGV[2] = '' only releases.
    private static let finishScript = RedisScript("""
        if ARGV[2] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
            local done = tonumber(redis.call('HGET', KEYS[1], 'done') or '0')
            if tonumber(ARGV[2]) > done then redis.call('HSET', KEYS[1], 'done', ARGV[2]) end
        end
        if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then redis.call('HDEL', KEYS[1], 'holder', 'lease_until') end
        return 1
        """)

    public enum Claim: String, Sendable { case done, busy, claimed }

    /// Marks each user once; their tickets.
    public func mark(_ users: [UUID]) async throws -> [UUID: Int64] {
        let ttl = String(max(1, idleTTL.milliseconds))
        let replies = try await redis.withConnection { conn in
            try conn.runPipelined(Self.markScript, calls: users.map { (keys: [Self.key($0)], arguments: [ttl]) })
        }
        var tickets: [UUID: Int64] = [:]
        for (user, reply) in zip(users, replies) {
            guard let ticket = try reply.get().int else { throw RedisError.unexpectedReply(command: "mark", reply: "\(reply)") }
            tickets[user] = ticket
        }
        return tickets
    }

    /// Tries to hold each user for `token` (whose tickets are not covered yet).
    public func claim(_ tickets: [UUID: Int64], token: String) async throws -> [UUID: Claim] {
        let users = Array(tickets.keys)
        let args = [String(max(1, lease.milliseconds)), String(max(1, idleTTL.milliseconds))]
        let replies = try await redis.withConnection { conn in
            try conn.runPipelined(Self.claimScript, calls: users.map { (keys: [Self.key($0)], arguments: [String(tickets[$0]!), token] + args) })
        }
        var claims: [UUID: Claim] = [:]
        for (user, reply) in zip(users, replies) {
            guard let text = try reply.get().string, let claim = Claim(rawValue: text) else {
                throw RedisError.unexpectedReply(command: "claim", reply: "\(reply)")
            }
            claims[user] = claim
        }
        return claims
    }

    /// The tickets a recompute of `users` starting now covers.
    public func targets(_ users: [UUID]) async throws -> [UUID: Int64] {
        let replies = try await redis.withConnection { conn in
            try conn.runPipelined(Self.targetScript, calls: users.map { (keys: [Self.key($0)], arguments: []) })
        }
        var targets: [UUID: Int64] = [:]
        for (user, reply) in zip(users, replies) { targets[user] = try reply.get().int ?? 0 }
        return targets
    }

    /// After a recompute that covered `targets` (nil: it failed, only the leases are given back).
    public func finish(_ users: [UUID], token: String, targets: [UUID: Int64]?) async throws {
        let replies = try await redis.withConnection { conn in
            try conn.runPipelined(Self.finishScript, calls: users.map { (keys: [Self.key($0)], arguments: [token, targets?[$0].map { String($0) } ?? ""]) })
        }
        for reply in replies { _ = try reply.get() }
    }
}
