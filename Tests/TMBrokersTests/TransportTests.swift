import Foundation
import TMBrokers
import TMHTTP
import TestSupport
import Testing

/// Failures below HTTP: a request that never left is `unavailable`; one that may have reached the
/// broker is `unknownOutcome` for a placement and `unavailable` for a read (reads are safe to retry).
@Suite(.timeLimit(.minutes(1))) struct TransportTests {
    /// A placement and a read against the same misbehaving server, for every broker.
    func outcomes(timeouts: BrokerTimeouts = BrokerTimeouts(connect: .seconds(2), total: .seconds(5)),
                  route: @escaping @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Behavior)
        async throws -> [(BrokerKind, placement: BrokerError?, read: BrokerError?, requests: Int)] {
        var results: [(BrokerKind, placement: BrokerError?, read: BrokerError?, requests: Int)] = []
        for broker in BrokerKind.allCases {
            let harness = try BrokerHarness(timeouts: timeouts, route: route)
            let adapter = harness.adapter(broker)
            let placement = await brokerError { try await adapter.placeOrder(sampleOrder(for: broker), credentials: Secrets.credentials) }
            let read = await brokerError { try await adapter.positions(credentials: Secrets.credentials) }
            results.append((broker, placement, read, harness.server.requests.count))
        }
        return results
    }

    @Test func nothingListeningIsUnavailableForEverything() async throws {
        let port = try TestHTTPServer.unusedLoopbackPort()
        let http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), name: "refused")
        defer { http.shutdown() }
        for broker in BrokerKind.allCases {
            let adapter = BrokerAdapters.make(broker, endpoints: .simulator(port: Int(port)), http: http)
            let placement = await brokerError { try await adapter.placeOrder(sampleOrder(for: broker), credentials: Secrets.credentials) }
            let read = await brokerError { try await adapter.orders(credentials: Secrets.credentials) }
            #expect(placement.map(ErrorShape.init) == .unavailable, "\(broker): \(String(describing: placement))")
            #expect(read.map(ErrorShape.init) == .unavailable, "\(broker): \(String(describing: read))")
            for error in [placement, read].compactMap({ $0 }) { expectNoSecret(in: error) }
        }
    }

    @Test func hangingPastTheTimeoutAfterSendingIsUnknownForAPlacement() async throws {
        let started = ContinuousClock.now
        let results = try await outcomes(timeouts: BrokerTimeouts(connect: .seconds(1), total: .milliseconds(700))) { _ in .hang }
        for (broker, placement, read, requests) in results {
            #expect(requests == 2, "\(broker): the server saw both requests, so they were sent")
            #expect(placement.map(ErrorShape.init) == .unknownOutcome, "\(broker): \(String(describing: placement))")
            #expect(read.map(ErrorShape.init) == .unavailable, "\(broker): \(String(describing: read))")
            for error in [placement, read].compactMap({ $0 }) { expectNoSecret(in: error) }
        }
        // Eight calls bounded by the 0.7 s timeout, not by the server.
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func connectionDroppedAfterTheRequestIsUnknownForAPlacement() async throws {
        for (broker, placement, read, _) in try await outcomes(route: { _ in .close }) {
            #expect(placement.map(ErrorShape.init) == .unknownOutcome, "\(broker): \(String(describing: placement))")
            #expect(read.map(ErrorShape.init) == .unavailable, "\(broker): \(String(describing: read))")
        }
    }

    @Test func truncatedBodyIsUnknownForAPlacement() async throws {
        let results = try await outcomes { _ in .partial(status: 200, declaredLength: 500, body: Data(#"{"status":"succ"#.utf8)) }
        for (broker, placement, read, _) in results {
            #expect(placement.map(ErrorShape.init) == .unknownOutcome, "\(broker): \(String(describing: placement))")
            #expect(read.map(ErrorShape.init) == .unavailable, "\(broker): \(String(describing: read))")
        }
    }

    @Test func callsReuseOneKeptAliveConnection() async throws {
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":[]}"#) }
        let adapter = harness.adapter(.kite)
        for _ in 0..<5 { _ = try await adapter.orders(credentials: Secrets.credentials) }
        #expect(harness.server.requests.count == 5)
        #expect(harness.server.connectionsAccepted <= 2)  // at most one per client lane
    }
}

/// Credentials are opened only inside a call and never reach an error, whatever fails.
@Suite(.timeLimit(.minutes(1))) struct CredentialSecrecyTests {
    struct LeakyUnsealError: Error, CustomStringConvertible {
        var description: String { "could not unseal \(Secrets.apiSecret)" }
    }

    @Test func aFailureToOpenIsUnauthorizedWithoutItsText() async throws {
        let harness = try BrokerHarness { _ in .json(200, "{}") }
        let broken = BrokerCredentials { throw LeakyUnsealError() }
        for broker in BrokerKind.allCases {
            let error = await brokerError { try await harness.adapter(broker).orders(credentials: broken) }
            #expect(error.map(ErrorShape.init) == .unauthorized)
            if let error { expectNoSecret(in: error) }
        }
        #expect(harness.server.requests.isEmpty)
    }

    @Test func opensOnlyWhileBuildingEachRequest() async throws {
        final class Counter: @unchecked Sendable {
            let lock = NSLock()
            var opened = 0
            func increment() { lock.withLock { opened += 1 } }
        }
        let counter = Counter()
        let credentials = BrokerCredentials {
            counter.increment()
            return .init(apiKey: Secrets.apiKey, apiSecret: Secrets.apiSecret, accessToken: Secrets.accessToken)
        }
        let harness = try BrokerHarness { _ in .json(200, #"{"status":"success","data":[]}"#) }
        _ = try await harness.adapter(.kite).orders(credentials: credentials)
        _ = try await harness.adapter(.kite).trades(since: TradeCursor(), symbols: [], credentials: credentials)
        #expect(counter.opened == 2)
        #expect("\(credentials)" == "<redacted>")
    }

    @Test func noErrorOfAnyBrokerCarriesACredential() async throws {
        // Every mapped error shape, each broker: the tables run `expectNoSecret` on every error;
        // here the whole tables run once more with all credentials in play, placement and read.
        let tables: [(BrokerKind, [ErrorCase])] = [
            (.kite, KiteAdapterTests.errorCases), (.upstox, UpstoxAdapterTests.errorCases),
            (.alpaca, AlpacaAdapterTests.errorCases), (.binance, BinanceAdapterTests.errorCases),
        ]
        var checked = 0
        for (broker, cases) in tables {
            for errorCase in cases {
                try await checkErrorCase(errorCase, broker: broker)
                checked += 1
            }
        }
        #expect(checked > 50)
    }
}
