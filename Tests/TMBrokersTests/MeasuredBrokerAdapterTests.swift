import Foundation
import TMBrokers
import TMCore
import TestSupport
import Testing

/// The measuring decorator reports each real call (over loopback HTTP to a scripted server): its
/// latency, and whether the broker failed it — a refusal of bad input is not a failure.
@Suite struct MeasuredBrokerAdapterTests {
    struct Call: Equatable {
        var broker: BrokerKind
        var latency: Duration
        var failed: Bool
    }

    /// Answers each request with the next of `answers` (the last one repeats).
    static func scripted(_ answers: [TestHTTPServer.Behavior]) -> @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Behavior {
        let next = Locked(0)
        return { _ in
            let index = next.withLock { index in
                defer { index += 1 }
                return index
            }
            return answers[min(index, answers.count - 1)]
        }
    }

    @Test func reportsEveryCallsLatencyAndWhetherTheBrokerFailedIt() async throws {
        let delay = Duration.milliseconds(300)
        let harness = try BrokerHarness(route: Self.scripted([
            .json(200, "[]"),
            .json(422, #"{"code":40010001,"message":"qty must be > 0"}"#),
            .json(502, ""),
            .json(429, #"{"code":42910000,"message":"rate limit exceeded"}"#, headers: [("Retry-After", "1")]),
            .json(404, #"{"code":40410000,"message":"order not found"}"#),
            .respondAfter(delay, status: 200, headers: [("Content-Type", "application/json")], body: Data("[]".utf8)),
        ]))
        let calls = Locked<[Call]>([])
        let measured = MeasuredBrokerAdapter(harness.adapter(.alpaca)) { broker, latency, failed in
            calls.withLock { $0.append(Call(broker: broker, latency: latency, failed: failed)) }
        }
        let credentials = Secrets.credentials
        #expect(try await measured.positions(credentials: credentials).isEmpty)
        let rejected = await brokerError { try await measured.positions(credentials: credentials) }
        let unavailable = await brokerError { try await measured.positions(credentials: credentials) }
        let limited = await brokerError { try await measured.positions(credentials: credentials) }
        let notFound = await brokerError { try await measured.positions(credentials: credentials) }
        #expect(try await measured.positions(credentials: credentials).isEmpty)

        // The adapter's errors pass through unchanged.
        #expect(rejected.map(ErrorShape.init) == .rejected(code: "40010001"))
        #expect(unavailable.map(ErrorShape.init) == .unavailable)
        #expect(limited.map(ErrorShape.init) == .rateLimited(.seconds(1)))
        #expect(notFound.map(ErrorShape.init) == .notFound)

        let seen = calls.current
        #expect(seen.map(\.broker) == Array(repeating: .alpaca, count: 6), "one report per call, after it ends")
        #expect(seen.map(\.failed) == [false, false, true, true, false, false],
                "a 5xx and a broker's 429 count against it; a refusal of bad input and a not-found do not")
        // The delayed answer cannot have been measured faster than the server waited (a bound, not a timing).
        #expect(seen[5].latency >= delay)
    }

    @Test func classifiesErrors() {
        #expect(MeasuredBrokerAdapter.failed(BrokerError.unknownOutcome(reason: "timeout")) == true)
        #expect(MeasuredBrokerAdapter.failed(BrokerError.invalidResponse(reason: "{{")) == true)
        #expect(MeasuredBrokerAdapter.failed(BrokerError.unauthorized(reason: "expired token")) == nil, "the account's credentials: no sample of the broker")
        #expect(MeasuredBrokerAdapter.failed(CancellationError()) == nil, "a cancelled call says nothing about the broker")
    }

    @Test func measuresWithTheInjectedClock() async throws {
        let harness = try BrokerHarness(route: Self.scripted([.json(200, "[]")]))
        // Each reading of the clock is 7 ms after the previous one: the measured latency is exact.
        let ticks = Locked(ContinuousClock.now)
        let clock: @Sendable () -> ContinuousClock.Instant = { ticks.withLock { $0 = $0.advanced(by: .milliseconds(7)); return $0 } }
        let calls = Locked<[Duration]>([])
        let measured = MeasuredBrokerAdapter(harness.adapter(.alpaca), now: clock) { _, latency, _ in calls.withLock { $0.append(latency) } }
        _ = try await measured.positions(credentials: Secrets.credentials)
        #expect(calls.current == [.milliseconds(7)])
    }
}
