import Foundation
import Testing
import TestSupport
@testable import TMBrokers
import TMCore
import TMRedis

/// Admissions of one broker decided together by one script run (`BrokerAdmission.run(on:breaker:budgets:)`,
/// `CoalescedAdmissions`), against real Redis: the same outcomes as one by one, at the budget's
/// edges, through an open and a half-open circuit, with several accounts mixed.
@Suite(.serialized, .timeLimit(.minutes(2))) struct CoalescedAdmissionTests {
    /// One scenario's names: a breaker and accounts in its slot, fresh per run.
    struct Names {
        let breaker: CircuitBreaker
        let accounts: [String: String]

        init(cooldown: Duration = .seconds(60), redis: RedisClient) {
            var settings = CircuitBreaker.Settings()
            settings.cooldown = cooldown
            let breaker = CircuitBreaker(name: TestServers.uniqueName("coalesced"), settings: settings, redis: redis)
            self.breaker = breaker
            accounts = Dictionary(uniqueKeysWithValues: ["a", "b", "c"].map { ($0, RateLimiter.key(TestServers.uniqueName($0), sharingSlotWith: breaker)) })
        }
    }

    /// What a test compares: the outcome's kind (a wait's length depends on the millisecond).
    enum Seen: Equatable, CustomStringConvertible {
        case admitted(recordSuccess: Bool), open, spent
        init(_ outcome: BrokerAdmission.Outcome) {
            switch outcome {
            case .admitted(_, let recordSuccess): self = .admitted(recordSuccess: recordSuccess)
            case .circuitOpen: self = .open
            case .budgetSpent: self = .spent
            }
        }
        var description: String {
            switch self {
            case .admitted(let record): "admitted(record: \(record))"
            case .open: "open"
            case .spent: "spent"
            }
        }
    }

    /// A scenario: how its breaker and logs are set up, and the calls (account, limits) in order.
    struct Scenario {
        let name: String
        var prepare: @Sendable (RedisConnection, Names) throws -> Void = { _, _ in }
        let calls: [(account: String, limits: [RateLimit])]
    }

    /// Runs `scenario` one call per script run and all calls in one run, on fresh names each; returns
    /// both outcomes and both end states (breaker state, grants per log).
    func both(_ scenario: Scenario, connection: RedisConnection, redis: RedisClient) throws -> (alone: [Seen], together: [Seen], states: [[String]]) {
        var seen: [[Seen]] = []
        var states: [[String]] = []
        for together in [false, true] {
            let names = Names(redis: redis)
            try scenario.prepare(connection, names)
            let budgets = scenario.calls.map { (key: names.accounts[$0.account]!, limits: $0.limits) }
            let outcomes = together
                ? try BrokerAdmission.run(on: connection, breaker: names.breaker, budgets: budgets)
                : try budgets.map { try BrokerAdmission.run(on: connection, breaker: names.breaker, budget: $0) }
            seen.append(outcomes.map(Seen.init))
            var state = [try connection.send("HGET", names.breaker.key, "state").string ?? "closed"]
            for account in ["a", "b", "c"] { state.append("\(account): \(try connection.send("ZCARD", names.accounts[account]!).int ?? -1)") }
            states.append(state)
            _ = try connection.send("DEL", names.breaker.key, names.accounts["a"]!, names.accounts["b"]!, names.accounts["c"]!)
        }
        return (seen[0], seen[1], states)
    }

    @Test func oneRunDecidesAsOneByOne() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let connection = try RedisConnection(configuration: redis.configuration)
        defer { connection.close() }
        let three = [RateLimit(3, per: .seconds(60))]
        let twoAndFour = [RateLimit(4, per: .seconds(3600)), RateLimit(2, per: .seconds(60))]
        let openSinceNow: @Sendable (RedisConnection, Names) throws -> Void = { connection, names in
            _ = try connection.send("HSET", names.breaker.key, "state", "open", "since", Int64(Date().timeIntervalSince1970 * 1000))
        }
        let pastCooldown: @Sendable (RedisConnection, Names) throws -> Void = { connection, names in
            _ = try connection.send("HSET", names.breaker.key, "state", "open", "since", 0)
        }
        let failuresOnRecord: @Sendable (RedisConnection, Names) throws -> Void = { connection, names in
            _ = try connection.send("HSET", names.breaker.key, "failures", 2, "window_start", 0)
        }
        let aSpent: @Sendable (RedisConnection, Names) throws -> Void = { connection, names in
            _ = try connection.send("ZADD", names.accounts["a"]!, Int64(Date().timeIntervalSince1970 * 1000), "earlier")
        }
        let scenarios: [(Scenario, expected: [Seen])] = [
            (Scenario(name: "one account past its limit, mixed with another",
                      calls: [("a", three), ("b", three), ("a", three), ("a", three), ("a", three), ("b", three), ("a", three)]),
             [.admitted(recordSuccess: false), .admitted(recordSuccess: false), .admitted(recordSuccess: false), .admitted(recordSuccess: false),
              .spent, .admitted(recordSuccess: false), .spent]),
            (Scenario(name: "two limits, the smaller spent first", calls: Array(repeating: ("c", twoAndFour), count: 3)),
             [.admitted(recordSuccess: false), .admitted(recordSuccess: false), .spent]),
            (Scenario(name: "failures on record: every success counts", prepare: failuresOnRecord, calls: [("a", three), ("b", three)]),
             [.admitted(recordSuccess: true), .admitted(recordSuccess: true)]),
            (Scenario(name: "open circuit", prepare: openSinceNow, calls: [("a", three), ("b", three), ("a", three)]),
             [.open, .open, .open]),
            (Scenario(name: "half-open: one probe", prepare: pastCooldown, calls: [("a", three), ("b", three), ("a", three)]),
             [.admitted(recordSuccess: true), .open, .open]),
            (Scenario(name: "half-open behind a spent budget: the next call probes",
                      prepare: { try aSpent($0, $1); try pastCooldown($0, $1) },
                      calls: [("a", [RateLimit(1, per: .seconds(60))]), ("b", three), ("c", three)]),
             [.spent, .admitted(recordSuccess: true), .open]),
        ]
        for (scenario, expected) in scenarios {
            let (alone, together, states) = try both(scenario, connection: connection, redis: redis)
            #expect(alone == expected, "\(scenario.name): one by one")
            #expect(together == alone, "\(scenario.name): in one run as one by one")
            #expect(states[1] == states[0], "\(scenario.name): the same breaker and grants after")
        }
    }

    /// Calls asked while a run is in flight wait for the next, which decides all of them; each gets
    /// its own budget's outcome. The first run is held (by the test's runner) until they wait.
    @Test func callsAskedDuringARunShareTheNextAndEachGetsItsOwn() async throws {
        let redis = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { redis.close() }
        let names = Names(redis: redis)
        let setup = try RedisConnection(configuration: redis.configuration)
        defer { setup.close() }
        // b's budget is spent; a's and c's are not.
        _ = try setup.send("ZADD", names.accounts["b"]!, Int64(Date().timeIntervalSince1970 * 1000), "earlier")
        defer { _ = try? setup.send("DEL", names.breaker.key, names.accounts["a"]!, names.accounts["b"]!, names.accounts["c"]!) }

        let release = DispatchSemaphore(value: 0)
        let runs = Locked<[Int]>([])
        let admissions = CoalescedAdmissions { connection, breaker, budgets in
            let first = runs.withLock { runs in
                runs.append(budgets.count)
                return runs.count == 1
            }
            if first { release.wait() }
            return try BrokerAdmission.run(on: connection, breaker: breaker, budgets: budgets)
        }
        let one = [RateLimit(1, per: .seconds(60))]
        let answers = Locked<[String: Seen]>([:])
        func ask(_ label: String, account: String) {
            Thread.detachNewThread {
                let connection = try? RedisConnection(configuration: redis.configuration)
                let seen = (try? admissions.admit(names.breaker, budget: (names.accounts[account]!, one)) { connection! }).map(Seen.init)
                answers.withLock { $0[label] = seen }
                connection?.close()
            }
        }
        ask("lone", account: "c")
        try await eventually("the lone call's run started") { runs.withLock { $0 } == [1] }
        // One at a time, so the next run's order is known: a, b, c.
        for (count, (label, account)) in [("a", "a"), ("b", "b"), ("c again", "c")].enumerated() {
            ask(label, account: account)
            try await eventually("\(count + 1) calls wait for the next run") { admissions.waiting(names.breaker) == count + 1 }
        }
        release.signal()
        try await eventually("all four answered") { answers.withLock { $0.count } == 4 }
        #expect(runs.withLock { $0 } == [1, 3], "the lone call went at once; the three waiting went in one run")
        #expect(answers.withLock { $0 } == ["lone": .admitted(recordSuccess: false), "a": .admitted(recordSuccess: false),
                                           "b": .spent, "c again": .spent])
        #expect(admissions.waiting(names.breaker) == 0)
    }
}
