import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// The short path (0054) with the lease row present, so that it is really entered (the review's gaps;
/// the newer delivery racing it is `FenceShortPathTests`' `leaseRowFirst` case): only READ COMMITTED
/// takes it (SERIALIZABLE's snapshot predates the lock's wait), and only a first delivery with exactly
/// one other fence goes that way (a third fence is never dropped).
@Suite(.serialized, .timeLimit(.minutes(2))) struct FenceShortPathRaceTests {
    typealias Lease = FenceShortPathTests.Lease

    @Test func aSerializableLoneFirstDeliveryWaitingForANewerOneCommitsNothing() async throws {
        let b = try FenceShortPathTests.Bench()
        try await b.write([b.delivery(1, of: "earlier"), Lease(resource: b.lease, fencingToken: 1)])
        try b.observer.simpleQuery("BEGIN")
        _ = try b.observer.query("SELECT tm_advance_fences_or_raise(\(PostgresData.array([b.delivery(2).resource]))::text[], '{2}')")
        try b.holder.simpleQuery("BEGIN ISOLATION LEVEL SERIALIZABLE")
        _ = try b.holder.query("SELECT 1 AS one")
        let first = Task { try b.holderFences(lease: 1) }
        try await eventually("the first delivery waiting for the newer one's lock") { try b.waiters("advisory") == 1 }
        try b.observer.simpleQuery("COMMIT")
        await #expect(throws: (any Error).self) { try await first.value }
        try? b.holder.simpleQuery("ROLLBACK")
        await b.close()
    }

    @Test func aFirstDeliveryWithTwoLeasesIsRefusedForTheStaleThirdFence() async throws {
        let b = try FenceShortPathTests.Bench()
        let other = TestServers.uniqueName("shard:zz")
        try await b.write([b.delivery(1, of: "earlier"), Lease(resource: b.lease, fencingToken: 1), Lease(resource: other, fencingToken: 2)])
        await #expect(throws: LockError.staleFencingToken(resource: other, token: 1)) {
            try await b.write([b.delivery(1), Lease(resource: b.lease, fencingToken: 1), Lease(resource: other, fencingToken: 1)])
        }
        await b.close()
    }
}
