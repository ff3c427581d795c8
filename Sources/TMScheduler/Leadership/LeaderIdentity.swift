import Foundation
import TMRedis

/// Who leads the schedulers: published in Redis by the leader for `tm schedules`.
public struct LeaderIdentity: Codable, Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var pid: Int32
    /// The lease's fencing token: strictly greater for every new leader.
    public var fencingToken: Int64
    public var since: Date

    public init(host: String, pid: Int32, fencingToken: Int64, since: Date) {
        self.host = host
        self.pid = pid
        self.fencingToken = fencingToken
        self.since = since
    }

    /// `host:pid`, as written into `schedule_firings.leader`.
    public var description: String { "\(host):\(pid)" }

    enum CodingKeys: String, CodingKey {
        case host, pid, since
        case fencingToken = "fencing_token"
    }
}

/// The leader's identity in Redis (`tm:{lock:<resource>}:leader`, beside the lock's own keys).
///
/// Guarantees: the entry expires with the lease's ttl unless the leader renews it, so a dead
/// leader disappears by itself; `withdraw` removes only the entry of the same fencing token, so a
/// stepping-down leader never erases its successor.
public struct LeaderRegistry: Sendable {
    public let redis: RedisClient
    public let resource: String

    public init(redis: RedisClient, resource: String) {
        self.redis = redis
        self.resource = resource
    }

    var key: String { "tm:{lock:\(resource)}:leader" }

    public func publish(_ identity: LeaderIdentity, ttl: Duration) async throws {
        try await redis.send("SET", key, Array(try Self.encoder.encode(identity)), "PX", ttl.milliseconds)
    }

    /// The current leader, or nil when none is known (none elected, or its entry expired).
    public func current() async throws -> LeaderIdentity? {
        guard let bytes = try await redis.send("GET", key).bytes else { return nil }
        return try Self.decoder.decode(LeaderIdentity.self, from: Data(bytes))
    }

    // KEYS: identity. ARGV: fencing token. Deletes the entry only when it is that token's.
    static let withdrawScript = RedisScript("""
        local current = redis.call('GET', KEYS[1])
        if current and cjson.decode(current).fencing_token == tonumber(ARGV[1]) then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        """)

    public func withdraw(_ identity: LeaderIdentity) async throws {
        try await redis.run(Self.withdrawScript, keys: [key], arguments: [identity.fencingToken])
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
