import Foundation
import TestSupport
import TMLocks
import TMPostgres
import TMRedis

/// A Redis client on the harness's Redis and a lock over it; close it at the end of the test.
struct RedisFixture {
    let redis: RedisClient
    let lock: DistributedLock

    init(name: String = "tm-locks-test") async throws {
        redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL), name: name)
        lock = DistributedLock(redis: redis)
    }

    func close() { redis.close() }

    /// The owner token stored in Redis for `resource`, or nil when nobody holds the lock.
    func owner(_ resource: String) async throws -> String? {
        try await redis.send("GET", DistributedLock.ownerKey(resource)).string
    }

    /// Removes both keys of `resource`, so tests leave nothing behind.
    func cleanUp(_ resource: String) async {
        _ = try? await redis.send("DEL", DistributedLock.ownerKey(resource), DistributedLock.fenceKey(resource))
    }

    /// Waits (bounded) until Redis has expired the lock of `resource`.
    func waitUntilFree(_ resource: String, upTo limit: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + limit
        while try await owner(resource) != nil {
            guard ContinuousClock.now < deadline else { throw TestTimeout(what: "lock \(resource) to expire") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

struct TestTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}
