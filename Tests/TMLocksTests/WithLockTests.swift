import Foundation
import Testing
import TMCore
import TestSupport
import TMLocks
import TMRedis

/// `withLock`: renewal keeps the lock for long work, a lost lease cancels the work, and the lock is
/// always released.
@Suite struct WithLockTests {
    @Test func renewalKeepsTheLockForWorkLongerThanTheTTL() async throws {
        let holder = try await RedisFixture(name: "holder")
        let contender = try await RedisFixture(name: "contender")
        defer { holder.close(); contender.close() }
        let resource = TestServers.uniqueName("renew")
        // Renewed every second; a stall of the whole 3 s on a loaded 2-core machine would be needed to lose it.
        let ttl = Duration.seconds(3)

        let (attempts, fencingToken) = try await holder.lock.withLock(resource, ttl: ttl) { lease in
            // Work for two TTLs while another client keeps trying to take the lock.
            let until = ContinuousClock.now + ttl * 2
            var attempts = 0
            while ContinuousClock.now < until {
                if let stolen = try await contender.lock.tryAcquire(resource, ttl: .seconds(30)) {
                    try await contender.lock.release(stolen)
                    Issue.record("a contender acquired the lock while withLock's body ran")
                }
                attempts += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            return (attempts, lease.fencingToken)
        }
        #expect(attempts > 5)
        // Released on return: the contender gets it at once, with the next fencing token.
        let after = try #require(try await contender.lock.tryAcquire(resource, ttl: .seconds(30)))
        #expect(after.fencingToken == fencingToken + 1)
        #expect(try await contender.lock.release(after))
        await holder.cleanUp(resource)
    }

    @Test func aLostLeaseCancelsTheBodyAndThrowsLeaseLost() async throws {
        let holder = try await RedisFixture(name: "holder")
        let contender = try await RedisFixture(name: "contender")
        defer { holder.close(); contender.close() }
        let resource = TestServers.uniqueName("lost")
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let sawCancellation = Locked(false)
        let finishedWork = Locked(false)

        let run = Task {
            try await holder.lock.withLock(resource, ttl: .seconds(1)) { _ in
                startedContinuation.yield()
                do {
                    try await Task.sleep(for: .seconds(40))
                } catch {
                    sawCancellation.withLock { $0 = true }
                    throw error
                }
                finishedWork.withLock { $0 = true }
                return 0
            }
        }
        for await _ in started { break }
        // Simulate the lease running out during a pause: the key vanishes and a contender takes it.
        try await holder.redis.send("DEL", DistributedLock.ownerKey(resource))
        let takeover = try #require(try await contender.lock.tryAcquire(resource, ttl: .seconds(30)))

        // Noticed at a renewal (every ttl/3), not at the end of the 40 s of work: the body was
        // cancelled and never finished (an outcome, not a stopwatch).
        await #expect(throws: LockError.leaseLost(resource: resource)) { try await run.value }
        #expect(sawCancellation.current)
        #expect(!finishedWork.current)
        // The ex-holder's release did not remove the new holder's lock.
        #expect(try await contender.owner(resource) == takeover.token)
        #expect(try await contender.lock.release(takeover))
        await holder.cleanUp(resource)
    }

    @Test func theLockIsReleasedWhenTheBodyThrows() async throws {
        struct WorkFailed: Error, Equatable {}
        let f = try await RedisFixture()
        defer { f.close() }
        let resource = TestServers.uniqueName("throws")
        await #expect(throws: WorkFailed()) {
            try await f.lock.withLock(resource, ttl: .seconds(30)) { _ -> Int in
                throw WorkFailed()
            }
        }
        // A 30 s TTL cannot have run out: the key is gone because withLock released it.
        #expect(try await f.owner(resource) == nil)
        await f.cleanUp(resource)
    }

    @Test func theLockIsReleasedWhenTheBodyReturnsAndHeldWhileItRuns() async throws {
        let f = try await RedisFixture()
        defer { f.close() }
        let resource = TestServers.uniqueName("returns")
        let tokenDuringWork = try await f.lock.withLock(resource, ttl: .seconds(30)) { lease async throws -> String in
            #expect(try await f.owner(resource) == lease.token)
            #expect(try await f.lock.tryAcquire(resource, ttl: .seconds(1)) == nil)
            return lease.token
        }
        #expect(tokenDuringWork.count == 32)
        #expect(try await f.owner(resource) == nil)
        await f.cleanUp(resource)
    }

    @Test func withLockWaitsForAHolderOrThrowsNotAcquired() async throws {
        let holder = try await RedisFixture(name: "holder")
        let other = try await RedisFixture(name: "other")
        defer { holder.close(); other.close() }
        let resource = TestServers.uniqueName("busy")
        let held = try #require(try await holder.lock.tryAcquire(resource, ttl: .seconds(30)))
        let ran = Locked(false)
        await #expect(throws: LockError.self) {
            try await other.lock.withLock(resource, ttl: .seconds(5), waitUpTo: .milliseconds(100)) { _ in ran.withLock { $0 = true } }
        }
        #expect(!ran.current)
        // The failed attempt must not have released somebody else's lock.
        #expect(try await holder.owner(resource) == held.token)
        #expect(try await holder.lock.release(held))
        await holder.cleanUp(resource)
    }
}

/// With Redis gone, a renewal cannot confirm the lease: past its estimated expiry it is treated as
/// lost. Uses a throwaway Redis so killing it disturbs no other test.
@Suite struct WithLockRedisOutageTests {
    @Test func unreachableRedisPastTheLeaseExpiryCountsAsLost() async throws {
        let server = try EphemeralRedis.start()
        defer { server.destroy() }
        var configuration = try RedisConfiguration(url: server.url)
        // Commands keep retrying for 20 s, far beyond the 1 s lease (and the client's close waits for them).
        configuration.reconnectWindow = .seconds(20)
        let redis = try await RedisClient(configuration: configuration, name: "outage")
        defer { redis.close() }
        let lock = DistributedLock(redis: redis)
        let resource = TestServers.uniqueName("outage")
        let (started, startedContinuation) = AsyncStream<Void>.makeStream()
        let sawCancellation = Locked(false)

        let run = Task {
            try await lock.withLock(resource, ttl: .seconds(1)) { _ in
                startedContinuation.yield()
                do {
                    try await Task.sleep(for: .seconds(40))
                } catch {
                    sawCancellation.withLock { $0 = true }
                    throw error
                }
                return 0
            }
        }
        for await _ in started { break }
        server.kill()
        let start = ContinuousClock.now
        // The lease (1 s) is given up at its expiry, not after the client's 20 s reconnect window
        // (the bound sits halfway, so a loaded machine cannot blur the two).
        await #expect(throws: LockError.leaseLost(resource: resource)) { try await run.value }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(sawCancellation.current)
    }
}
