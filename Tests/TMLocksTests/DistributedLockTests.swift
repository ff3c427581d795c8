import Foundation
import Testing
import TestSupport
import TMLocks
import TMRedis

/// Acquire, release, extend and fencing tokens against the harness's real Redis.
@Suite struct DistributedLockTests {
    @Test func ofTwoContendersExactlyOneWins() async throws {
        let a = try await RedisFixture(name: "contender-a")
        let b = try await RedisFixture(name: "contender-b")
        defer { a.close(); b.close() }
        let resource = TestServers.uniqueName("two")
        defer { Task { await a.cleanUp(resource) } }

        async let first = a.lock.tryAcquire(resource, ttl: .seconds(30))
        async let second = b.lock.tryAcquire(resource, ttl: .seconds(30))
        let leases = [try await first, try await second].compactMap { $0 }
        #expect(leases.count == 1)
        let winner = try #require(leases.first)
        #expect(try await a.owner(resource) == winner.token)
        #expect(winner.token.count == 32)
        await a.cleanUp(resource)
    }

    @Test func ofTenConcurrentContendersExactlyOneWins() async throws {
        let resource = TestServers.uniqueName("ten")
        let leases = try await withThrowingTaskGroup(of: LockLease?.self) { group in
            for i in 0..<10 {
                group.addTask {
                    let fixture = try await RedisFixture(name: "contender-\(i)")
                    defer { fixture.close() }
                    return try await fixture.lock.tryAcquire(resource, ttl: .seconds(30))
                }
            }
            var won: [LockLease] = []
            for try await lease in group { if let lease { won.append(lease) } }
            return won
        }
        let fixture = try await RedisFixture()
        defer { fixture.close() }
        #expect(leases.count == 1)
        #expect(try await fixture.owner(resource) == leases.first?.token)
        // Losers do not consume fencing tokens: only the winner incremented the counter.
        #expect(leases.first?.fencingToken == 1)
        await fixture.cleanUp(resource)
    }

    @Test func releaseFreesTheLockAndIsIdempotent() async throws {
        let f = try await RedisFixture()
        defer { f.close() }
        let resource = TestServers.uniqueName("release")
        let lease = try #require(try await f.lock.tryAcquire(resource, ttl: .seconds(30)))
        #expect(try await f.lock.tryAcquire(resource, ttl: .seconds(30)) == nil)
        #expect(try await f.lock.release(lease))
        #expect(try await f.owner(resource) == nil)
        #expect(try await f.lock.release(lease) == false)
        let next = try #require(try await f.lock.tryAcquire(resource, ttl: .seconds(30)))
        #expect(try await f.lock.release(next))
        await f.cleanUp(resource)
    }

    @Test func releaseByANonOwnerDoesNothing() async throws {
        let old = try await RedisFixture(name: "old-holder")
        let new = try await RedisFixture(name: "new-holder")
        defer { old.close(); new.close() }
        let resource = TestServers.uniqueName("nonowner")
        // The old holder's lease runs out (a long pause); a new holder takes the lock.
        let stale = try #require(try await old.lock.tryAcquire(resource, ttl: .milliseconds(100)))
        let current = try await new.lock.acquire(resource, ttl: .seconds(30), waitUpTo: .seconds(20))
        #expect(current.token != stale.token)
        // The old holder wakes up and releases with its (wrong) token: the new lock stays.
        #expect(try await old.lock.release(stale) == false)
        #expect(try await new.owner(resource) == current.token)
        #expect(try await old.lock.extend(stale) == nil)
        #expect(try await new.owner(resource) == current.token)
        #expect(try await new.lock.release(current))
        await new.cleanUp(resource)
    }

    @Test func extendProlongsAHeldLockAndFailsAfterExpiry() async throws {
        let f = try await RedisFixture()
        defer { f.close() }
        let resource = TestServers.uniqueName("extend")
        // 10 s, not less: the suite shares 2 cores with soak tests, and a stall must not expire it.
        let lease = try #require(try await f.lock.tryAcquire(resource, ttl: .seconds(10)))
        let renewed = try #require(try await f.lock.extend(lease, ttl: .seconds(60)))
        #expect(renewed.fencingToken == lease.fencingToken)
        #expect(renewed.token == lease.token)
        #expect(renewed.expiresAt > lease.expiresAt)
        let pttl = try #require(try await f.redis.send("PTTL", DistributedLock.ownerKey(resource)).int)
        #expect(pttl > 10_000)

        // Shorten it, let it expire, then try to extend: the lease is gone.
        let short = try #require(try await f.lock.extend(renewed, ttl: .milliseconds(50)))
        try await f.waitUntilFree(resource)
        #expect(short.mayHaveExpired)
        #expect(try await f.lock.extend(short) == nil)
        #expect(try await f.owner(resource) == nil)
        await f.cleanUp(resource)
    }

    @Test func fencingTokensStrictlyIncreaseAcrossHolders() async throws {
        let a = try await RedisFixture(name: "holder-a")
        let b = try await RedisFixture(name: "holder-b")
        defer { a.close(); b.close() }
        let resource = TestServers.uniqueName("fence")
        var tokens: [Int64] = []
        for round in 0..<6 {
            let holder = round.isMultiple(of: 2) ? a : b
            let lease = try await holder.lock.acquire(resource, ttl: .seconds(30), waitUpTo: .seconds(5))
            tokens.append(lease.fencingToken)
            if round == 3 {
                // Expiry instead of release also moves the fence on.
                _ = try #require(try await holder.lock.extend(lease, ttl: .milliseconds(20)))
                try await holder.waitUntilFree(resource)
            } else {
                #expect(try await holder.lock.release(lease))
            }
        }
        #expect(tokens == tokens.sorted())
        #expect(Set(tokens).count == tokens.count)
        #expect(tokens.first == 1)
        await a.cleanUp(resource)
    }

    @Test func acquireWaitsForTheHolderToRelease() async throws {
        let holder = try await RedisFixture(name: "holder")
        let waiter = try await RedisFixture(name: "waiter")
        defer { holder.close(); waiter.close() }
        let resource = TestServers.uniqueName("wait")
        let held = try #require(try await holder.lock.tryAcquire(resource, ttl: .seconds(30)))
        async let waited = waiter.lock.acquire(resource, ttl: .seconds(30), waitUpTo: .seconds(30))
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await holder.lock.release(held))
        let lease = try await waited
        #expect(lease.fencingToken == held.fencingToken + 1)
        #expect(try await waiter.lock.release(lease))
        await holder.cleanUp(resource)
    }

    @Test func acquireGivesUpAtTheDeadline() async throws {
        let holder = try await RedisFixture(name: "holder")
        let waiter = try await RedisFixture(name: "waiter")
        defer { holder.close(); waiter.close() }
        let resource = TestServers.uniqueName("giveup")
        let held = try #require(try await holder.lock.tryAcquire(resource, ttl: .seconds(30)))
        do {
            _ = try await waiter.lock.acquire(resource, ttl: .seconds(30), waitUpTo: .milliseconds(200))
            Issue.record("acquired a lock someone else holds")
        } catch let LockError.notAcquired(name, waited) {
            #expect(name == resource)
            #expect(waited >= .milliseconds(200))
            #expect("\(LockError.notAcquired(resource: name, waited: waited))".contains(resource))
        }
        #expect(try await holder.owner(resource) == held.token)
        // One attempt only with no wait.
        await #expect(throws: LockError.self) {
            try await waiter.lock.acquire(resource, ttl: .seconds(1))
        }
        await holder.cleanUp(resource)
    }
}
