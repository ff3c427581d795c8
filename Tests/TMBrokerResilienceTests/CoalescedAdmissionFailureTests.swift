import Foundation
import Testing
import TestSupport
@testable import TMBrokers
import TMCore
import TMRedis

/// `CoalescedAdmissions` when a run fails, against real Redis: a lane's broken connection fails
/// that lane alone; a run never executed fails only its leader (the others run alone); a lost or
/// unreadable reply fails every call of its wave, is not resent, and spends what it says; the
/// breaker is free again after every wave.
@Suite(.serialized, .timeLimit(.minutes(2))) struct CoalescedAdmissionFailureTests {
    typealias Names = CoalescedAdmissionTests.Names
    typealias Seen = CoalescedAdmissionTests.Seen

    /// A broker's coalescer whose first run is held until `release`, so later calls wait for the
    /// next; `then` decides every later run (after the real script, or instead of it).
    final class Stage: @unchecked Sendable {
        let redis: RedisClient
        let names: Names
        /// The test's own connection (used by the test's task only).
        let setup: RedisConnection
        let release: DispatchSemaphore
        /// Calls per run, in the order the runs started.
        let runs: Locked<[Int]>
        /// Per label: what the call got ("failed" for a thrown error).
        let answers = Locked<[String: String]>([:])
        let admissions: CoalescedAdmissions

        typealias Then = @Sendable (_ run: Int, _ connection: RedisConnection, _ breaker: CircuitBreaker, _ budgets: [BrokerAdmission.Budget])
            throws -> [BrokerAdmission.Outcome]

        init(then: @escaping Then = { _, connection, breaker, budgets in
            try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
        }) async throws {
            redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
            names = Names(redis: redis)
            setup = try RedisConnection(configuration: redis.configuration)
            let runs = Locked<[Int]>([])
            let release = DispatchSemaphore(value: 0)
            self.runs = runs
            self.release = release
            admissions = CoalescedAdmissions { connection, breaker, budgets in
                let run = runs.withLock { runs in
                    runs.append(budgets.count)
                    return runs.count
                }
                if run == 1 {
                    let outcomes = try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
                    release.wait()
                    return outcomes
                }
                return try then(run, connection, breaker, budgets)
            }
        }

        deinit {
            _ = try? setup.send("DEL", names.breaker.key, names.accounts["a"]!, names.accounts["b"]!, names.accounts["c"]!)
            setup.close()
            redis.close()
        }

        /// One lane's call of `account` (one unit of 5 a minute) on a thread of its own, on a
        /// connection of its own unless `connect` is given.
        func ask(_ label: String, account: String, connect: (@Sendable () throws -> RedisConnection)? = nil) {
            let configuration = redis.configuration
            Thread.detachNewThread { [self] in
                let own = connect == nil ? try? RedisConnection(configuration: configuration) : nil
                let answer: String
                do {
                    let outcome = try admissions.admit(names.breaker, budget: (names.accounts[account]!, [RateLimit(5, per: .seconds(60))])) {
                        if let connect { return try connect() }
                        return own!
                    }
                    answer = "\(Seen(outcome))"
                } catch {
                    answer = "failed"
                }
                answers.withLock { $0[label] = answer }
                own?.close()
            }
        }

        /// A lone call of `c`, whose run is held; then each of `calls` asked in turn, each waiting for
        /// the next run before the next asks (so the wave's order is known).
        func wave(_ calls: [(label: String, account: String)]) async throws {
            ask("lone", account: "c")
            try await eventually("the lone call's run started") { runs.withLock { $0 } == [1] }
            for (count, call) in calls.enumerated() {
                ask(call.label, account: call.account)
                try await eventually("\(count + 1) calls wait") { admissions.waiting(names.breaker) == count + 1 }
            }
        }

        func grants(_ account: String) throws -> Int64 {
            try setup.send("ZCARD", names.accounts[account]!).int ?? -1
        }
    }

    /// A lane whose connection cannot be opened fails at once, alone: it does not join (nor wait
    /// for) the run in flight, and the calls that do join are decided by the next run.
    @Test func aLaneThatCannotConnectFailsAloneWithoutWaiting() async throws {
        let stage = try await Stage()
        stage.ask("lone", account: "c")
        try await eventually("the lone call's run started") { stage.runs.withLock { $0 } == [1] }
        stage.ask("broken", account: "a") { throw RedisError.connection(reason: "this lane's connection cannot be opened", mayHaveExecuted: false) }
        try await eventually("the broken lane answered while the run is still held") { stage.answers.withLock { $0["broken"] } != nil }
        #expect(stage.admissions.waiting(stage.names.breaker) == 0)
        stage.ask("b", account: "b")
        try await eventually("b waits") { stage.admissions.waiting(stage.names.breaker) == 1 }
        stage.release.signal()
        try await eventually("all answered") { stage.answers.withLock { $0.count } == 3 }
        #expect(stage.answers.withLock { $0 } == ["lone": "admitted(record: false)", "broken": "failed", "b": "admitted(record: false)"])
        #expect(stage.runs.withLock { $0 } == [1, 1])
        #expect(try stage.grants("a") == 0)
    }

    /// A wave's run that was never executed (its leader's connection failed before writing it)
    /// fails the leader's call only; each other call then runs alone on its own connection.
    @Test func aRunNeverExecutedFailsOnlyItsLeaderAndTheOthersRunAlone() async throws {
        let stage = try await Stage { run, connection, breaker, budgets in
            if run == 2 { throw RedisError.connection(reason: "the leader's connection dropped before writing", mayHaveExecuted: false) }
            return try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
        }
        try await stage.wave([("leader", "a"), ("b", "b"), ("c again", "c")])
        stage.release.signal()
        try await eventually("all four answered") { stage.answers.withLock { $0.count } == 4 }
        #expect(stage.answers.withLock { $0 } == ["lone": "admitted(record: false)", "leader": "failed",
                                                 "b": "admitted(record: false)", "c again": "admitted(record: false)"])
        #expect(stage.runs.withLock { $0 } == [1, 3, 1, 1], "the wave, then b and c each alone")
        #expect(try [stage.grants("a"), stage.grants("b"), stage.grants("c")] == [0, 1, 2])
    }

    /// A wave whose reply is lost after the script ran fails every call of it, sends nothing for
    /// any (none is admitted), and is not resent: each call's unit counts as spent, once.
    @Test func aLostReplyFailsEveryCallOfItsWaveAndIsNotResent() async throws {
        let stage = try await Stage { run, connection, breaker, budgets in
            let outcomes = try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
            if run == 2 { throw RedisError.connection(reason: "timed out waiting for the reply", mayHaveExecuted: true) }
            return outcomes
        }
        try await stage.wave([("a", "a"), ("b", "b"), ("c again", "c")])
        stage.release.signal()
        try await eventually("all four answered") { stage.answers.withLock { $0.count } == 4 }
        #expect(stage.answers.withLock { $0 } == ["lone": "admitted(record: false)", "a": "failed", "b": "failed", "c again": "failed"])
        #expect(stage.runs.withLock { $0 } == [1, 3], "nothing resent")
        #expect(try [stage.grants("a"), stage.grants("b"), stage.grants("c")] == [1, 1, 2], "each call's unit spent once")
    }

    /// A lost reply over a half-open circuit leaves one probe out (a later call is refused until one
    /// more cooldown has passed) — the same as a lone call's lost reply did before waves.
    @Test func aLostReplyLeavesOneProbeOutAsALoneCallsDid() async throws {
        let stage = try await Stage { run, connection, breaker, budgets in
            let outcomes = try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
            if run == 2 { throw RedisError.connection(reason: "timed out waiting for the reply", mayHaveExecuted: true) }
            return outcomes
        }
        try await stage.wave([("a", "a"), ("b", "b")])
        try await eventually("the lone run's script ran") { try stage.grants("c") == 1 }
        // The circuit opened long ago (past its cooldown) while the lone run was in flight: the wave probes.
        _ = try stage.setup.send("HSET", stage.names.breaker.key, "state", "open", "since", 0)
        stage.release.signal()
        try await eventually("all three answered") { stage.answers.withLock { $0.count } == 3 }
        #expect(stage.answers.withLock { $0["a"] } == "failed")
        #expect(stage.answers.withLock { $0["b"] } == "failed")
        #expect(try stage.setup.send("HGET", stage.names.breaker.key, "state").string == "half_open")
        #expect(try [stage.grants("a"), stage.grants("b")] == [1, 0], "one probe: b was refused in the run")
        stage.ask("later", account: "b")
        try await eventually("the later call answered") { stage.answers.withLock { $0["later"] } != nil }
        #expect(stage.answers.withLock { $0["later"] } == "open")

        // A lone call's lost reply (one call, its own run) leaves the same state.
        let lone = Names(redis: stage.redis)
        defer { _ = try? stage.setup.send("DEL", lone.breaker.key, lone.accounts["a"]!) }
        _ = try stage.setup.send("HSET", lone.breaker.key, "state", "open", "since", 0)
        _ = try BrokerAdmission.run(on: stage.setup, breaker: lone.breaker, budget: (lone.accounts["a"]!, [RateLimit(5, per: .seconds(60))]))
        #expect(try stage.setup.send("HGET", lone.breaker.key, "state").string == "half_open")
        #expect(Seen(try BrokerAdmission.run(on: stage.setup, breaker: lone.breaker, budget: (lone.accounts["a"]!, [RateLimit(5, per: .seconds(60))]))) == .open)
    }

    /// A run whose reply answers fewer calls than it was given fails every call of the wave: none
    /// hangs, none is handed another's outcome, none is resent.
    @Test func aShortReplyFailsEveryCallOfItsWave() async throws {
        let stage = try await Stage { run, connection, breaker, budgets in
            let outcomes = try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
            return run == 2 ? Array(outcomes.prefix(1)) : outcomes
        }
        try await stage.wave([("a", "a"), ("b", "b"), ("c again", "c")])
        stage.release.signal()
        try await eventually("all four answered") { stage.answers.withLock { $0.count } == 4 }
        #expect(stage.answers.withLock { $0 } == ["lone": "admitted(record: false)", "a": "failed", "b": "failed", "c again": "failed"])
        #expect(stage.runs.withLock { $0 } == [1, 3])
    }

    /// After a wave the breaker has no run in flight: a later call runs at once, alone.
    @Test func theBreakerIsFreeAgainAfterAWave() async throws {
        let stage = try await Stage()
        try await stage.wave([("a", "a"), ("b", "b")])
        stage.release.signal()
        try await eventually("all three answered") { stage.answers.withLock { $0.count } == 3 }
        stage.ask("later", account: "a")
        try await eventually("the later call answered") { stage.answers.withLock { $0["later"] } != nil }
        #expect(stage.answers.withLock { $0["later"] } == "admitted(record: false)")
        #expect(stage.runs.withLock { $0 } == [1, 2, 1])
        #expect(stage.admissions.waiting(stage.names.breaker) == 0)
    }
}
