import Foundation
import Testing
import TestSupport
import TMCore
import TMFunctionRuntime
import TMQueue
import TMRedis
@testable import TMAnalytics

/// analytics-refresh on trade-events: each user once per burst (counted, so a duplicate shows),
/// across concurrent invocations; no event left uncovered by a recompute that started after it;
/// order events resolved to their account's user; bad records fail alone.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RefreshDebounceTests {
    @Test func aBatchOfOneUsersEventsIsOneRecompute() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("burst")
        let account = try await f.account(user)
        let request = RefreshFixture.request((1...20).map { RefreshFixture.tradeCreated(account: account, user: user, trade: "T\($0)") })
        let function = AnalyticsRefreshFunction(pool: f.pool, refresher: f.refresher(settle: .milliseconds(10)))
        let result = await function.handle(request, context: RefreshFixture.context(request))
        #expect(result.status == .ok)
        #expect(f.count(user) == 1, "twenty events of one user in a batch: one recompute")
        #expect(result.results?["m20"] == "recomputed user \(user.uuidString.lowercased())")
        await f.cleanUp()
    }

    /// Ten invocations at once, each with five events of the same user (and one of them another
    /// user too): the holder recomputes once for all of them; the rest wait and are covered.
    @Test func aBurstAcrossConcurrentInvocationsIsOneOrTwoRecomputes() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("burst")
        let other = try await f.user("other")
        let account = try await f.account(user)
        let otherAccount = try await f.account(other)
        // The first recompute is held until all ten invocations have marked the user, however slow
        // the machine: whatever its target missed, one more recompute covers all of it.
        let (redis, key) = (f.redis, CacheKeys.analyticsRefresh(user: user.uuidString.lowercased()))
        let function = AnalyticsRefreshFunction(pool: f.pool, refresher: f.refresher { _ in
            while Int(try await redis.send("HGET", key, "pending").string ?? "0") ?? 0 < 10 { try await Task.sleep(for: .milliseconds(5)) }
        })
        let results = await withTaskGroup(of: InvocationResult.self) { group in
            for invocation in 0..<10 {
                var bodies = (0..<5).map { RefreshFixture.tradeCreated(account: account, user: user, trade: "T\(invocation)-\($0)") }
                if invocation == 3 { bodies.append(RefreshFixture.tradeCreated(account: otherAccount, user: other)) }
                let request = RefreshFixture.request(bodies)
                group.addTask { await function.handle(request, context: RefreshFixture.context(request)) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0.status == .ok }, "\(results.filter { $0.status != .ok })")
        // One recompute when all ten marked within the holder's settle window; a straggler that
        // marked after the holder read its target costs exactly one more, never ten.
        #expect((1...2).contains(f.count(user)), "recomputes of the burst's user: \(f.count(user))")
        #expect(f.count(other) == 1)
        let covered = results.flatMap { $0.results?.values.map { $0 } ?? [] }.filter { $0.contains("covered by another") }
        #expect(!covered.isEmpty, "the waiting invocations ride on the holder's recompute")
        await f.cleanUp()
    }

    /// An event that arrives while the user's recompute is already reading is not covered by it:
    /// its invocation waits, then recomputes again (the debounce never drops a change).
    @Test func anEventDuringARecomputeGetsAnotherRecompute() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("late")
        let account = try await f.account(user)
        let gate = Locked(false)
        let function = AnalyticsRefreshFunction(pool: f.pool, refresher: f.refresher(settle: .milliseconds(10)) { _ in
            while !gate.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        })
        let first = RefreshFixture.request([RefreshFixture.tradeCreated(account: account, user: user, trade: "T1")])
        let running = Task { await function.handle(first, context: RefreshFixture.context(first)) }
        try await eventually("the first recompute started") { f.count(user) == 1 }
        let second = RefreshFixture.request([RefreshFixture.tradeCreated(account: account, user: user, trade: "T2")])
        let waiting = Task { await function.handle(second, context: RefreshFixture.context(second)) }
        try await eventually("the second event marked") {
            try await f.redis.send("HGET", RefreshCoordinator.key(user), "pending").string == "2"
        }
        gate.withLock { $0 = true }
        let (a, b) = (await running.value, await waiting.value)
        #expect(a.status == .ok && b.status == .ok)
        #expect(f.count(user) == 2, "the late event's recompute ran after the first one")
        #expect(b.results?["m1"] == "recomputed user \(user.uuidString.lowercased())")
        await f.cleanUp()
    }

    /// The holder died (its lease lapsed, `done` never raised): the next invocation takes over.
    @Test func aDeadHoldersLeaseLapsesAndTheNextInvocationRecomputes() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("orphan")
        let account = try await f.account(user)
        var coordinator = RefreshCoordinator(redis: f.redis)
        coordinator.lease = .milliseconds(300)
        let tickets = try await coordinator.mark([user])
        #expect(try await coordinator.claim(tickets, token: "dead") == [user: .claimed])
        var refresher = AnalyticsRefresher(coordinator: coordinator) { [recomputed = f.recomputed] users in recomputed.withLock { $0 += users } }
        refresher.settle = .milliseconds(10)
        let request = RefreshFixture.request([RefreshFixture.tradeCreated(account: account, user: user)])
        let result = await AnalyticsRefreshFunction(pool: f.pool, refresher: refresher).handle(request, context: RefreshFixture.context(request))
        #expect(result.status == .ok)
        #expect(f.count(user) == 1)
        await f.cleanUp()
    }

    /// A user whose recompute fails fails exactly its records, retryably, and holds nobody up:
    /// the next event recomputes (the failed holder gave the lease back).
    @Test func aFailedRecomputeFailsItsUsersRecordsAndReleasesTheUser() async throws {
        let f = try await RefreshFixture()
        let user = try await f.user("failing")
        let account = try await f.account(user)
        let failing = Locked(true)
        let function = AnalyticsRefreshFunction(pool: f.pool, refresher: f.refresher(settle: .milliseconds(10)) { _ in
            if failing.withLock({ $0 }) { throw RecordRejected("postgres went away") }
        })
        let request = RefreshFixture.request([RefreshFixture.tradeCreated(account: account, user: user)])
        let failed = await function.handle(request, context: RefreshFixture.context(request))
        #expect(failed.status == .partial || failed.status == .error)
        #expect(failed.failures?.first?.retryable == true && failed.failures?.first?.error.contains("postgres went away") == true)
        failing.withLock { $0 = false }
        let retried = await function.handle(request, context: RefreshFixture.context(request))
        #expect(retried.status == .ok)
        #expect(f.count(user) == 2)
        await f.cleanUp()
    }

    /// The order path's events name the account (and maybe not the user): the account's user is
    /// recomputed; a fill-less state change is skipped; unreadable records fail alone, not retried;
    /// an unknown account fails retryably.
    @Test func orderEventsResolveTheAccountsUserAndBadRecordsFailAlone() async throws {
        let f = try await RefreshFixture()
        let owner = try await f.user("owner")
        let bystander = try await f.user("bystander")
        let account = try await f.account(owner, broker: "alpaca", label: "us")
        _ = try await f.account(bystander)
        let request = RefreshFixture.request([
            RefreshFixture.orderFilled(account: account), RefreshFixture.orderFilled(account: account, filled: "0"),
            "[1]", #"{"event":"trade.created","user_id":"nope"}"#, RefreshFixture.orderFilled(account: UUID()),
        ])
        let result = await AnalyticsRefreshFunction(pool: f.pool, refresher: f.refresher(settle: .milliseconds(10)))
            .handle(request, context: RefreshFixture.context(request))
        #expect(f.count(owner) == 1, "the order's account's user")
        #expect(f.count(bystander) == 0)
        #expect(f.recomputed.withLock { $0.count } == 1)
        #expect(result.results?["m1"] == "recomputed user \(owner.uuidString.lowercased())")
        #expect(result.results?["m2"]?.hasPrefix("skipped") == true)
        let failures = Dictionary(uniqueKeysWithValues: (result.failures ?? []).map { ($0.messageID, $0) })
        #expect(Set(failures.keys) == ["m3", "m4", "m5"])
        #expect(failures["m3"]?.retryable == false && failures["m4"]?.retryable == false)
        #expect(failures["m4"]?.error.contains("user_id") == true)
        #expect(failures["m5"]?.retryable == true && failures["m5"]?.error.contains("no account") == true)
        await f.cleanUp()
    }
}
