import Foundation
import TMBrokerSim
import TMHTTP
import Testing

@Suite("Fault injection") struct FaultTests {
    @Test func addedLatencyForCountRequests() throws {
        let sim = try SimulatorHarness()
        let added = try sim.admin(.post, "/faults", json: #"{"broker":"alpaca","endpoint":"GET /v2/orders","latency_ms":300,"count":1}"#)
        #expect(added.json.text("id") != nil)
        let start = Date()
        #expect(try sim.alpaca(.get, "/v2/orders").status == 200)
        #expect(Date().timeIntervalSince(start) >= 0.3)
        // The fault was for one request: spent, so the next one is not delayed (checked on the
        // injector, not with a stopwatch a loaded machine could stretch).
        #expect(sim.simulator.faults.active.isEmpty)
        #expect(try sim.alpaca(.get, "/v2/orders").status == 200)
    }

    @Test func errorRateAnswersInTheBrokersShapeWithoutExecuting() throws {
        let sim = try SimulatorHarness()
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"kite","endpoint":"POST /orders","error_rate":1,"status":503,"count":2}"#)
        for _ in 0..<2 {
            let reply = try sim.kiteOrder()
            #expect(reply.status == 503)
            #expect(reply.json.text("error_type") == "NetworkException")
        }
        #expect(try sim.kiteOrder().status == 200)
        #expect(sim.simulator.exchange.orders(.kite, apiKey: SimulatorHarness.kite.key).count == 1)
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"alpaca","error_rate":1,"status":500,"count":1}"#)
        #expect(try sim.alpaca(.get, "/v2/orders").json.text("code") == "50000000")
    }

    @Test func burstOf429s() throws {
        let sim = try SimulatorHarness()
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"binance","burst_429":3}"#)
        for _ in 0..<3 {
            let reply = try sim.binance(.get, "/api/v3/account", [])
            #expect(reply.status == 429)
            #expect(reply.json.text("code") == "-1003")
            #expect(reply.header("Retry-After") == "1")
        }
        #expect(try sim.binance(.get, "/api/v3/account", []).status == 200)
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"upstox","burst_429":1}"#)
        #expect(try sim.upstox(.get, "/v2/order/retrieve-all").json.text("errors.0.errorCode") == "UDAPI10005")
    }

    @Test func hangPastTheClientTimeoutThenTheOrderExists() throws {
        let sim = try SimulatorHarness(timeout: .milliseconds(400))
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"kite","endpoint":"POST /orders/regular","hang_ms":1000,"count":1}"#)
        #expect(throws: HTTPClientError.self) { try sim.kiteOrder(tag: "hung") }
        // The broker went on to act on it: look it up before retrying.
        try waitUntil { sim.simulator.exchange.orders(.kite, apiKey: SimulatorHarness.kite.key).count == 1 }
    }

    @Test func dropAfterExecuteLosesTheResponseButNotTheOrder() throws {
        let sim = try SimulatorHarness()
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"*","endpoint":"POST /v2/orders","drop_response_after_execute":true,"count":1}"#)
        do {
            _ = try sim.alpacaOrder(clientID: "lost-1")
            Issue.record("expected a transport error")
        } catch let error as HTTPClientError {
            #expect(error.mayHaveReachedServer)
        }
        let truth = try sim.truth("alpaca", SimulatorHarness.alpaca.key)
        #expect(truth.text("orders_per_client_id.lost-1") == "1")
        #expect(try sim.alpacaOrder(clientID: "lost-1").status == 422)  // a blind retry is refused as a duplicate
    }

    @Test func dropRateDropsSomeResponsesAndExecutesEveryOrder() throws {
        let sim = try SimulatorHarness()
        _ = try sim.admin(.post, "/faults", json: #"{"broker":"alpaca","endpoint":"POST /v2/orders","drop_rate":0.5}"#)
        var answered = 0, dropped = 0
        for n in 0..<40 {
            do {
                #expect(try sim.alpacaOrder(clientID: "some-\(n)").status == 200)
                answered += 1
            } catch let error as HTTPClientError {
                #expect(error.mayHaveReachedServer)
                dropped += 1
            }
        }
        // A fraction, not all or none (seeded: the same run draws the same drops); every order executed.
        #expect(answered > 0 && dropped > 0)
        #expect(sim.simulator.exchange.orders(.alpaca, apiKey: SimulatorHarness.alpaca.key).count == 40)
        #expect(sim.simulator.faults.active.count == 1)
    }

    @Test func faultsAreListedAndRemoved() throws {
        let sim = try SimulatorHarness()
        let id = try #require(try sim.admin(.post, "/faults", json: #"{"broker":"kite","error_rate":1}"#).json.text("id"))
        _ = try sim.admin(.post, "/faults", json: #"{"latency_ms":1}"#)
        #expect(try sim.admin(.get, "/faults").json.count == 2)
        #expect(try sim.kite(.get, "/orders").status == 503)
        #expect(try sim.admin(.delete, "/faults/\(id)").status == 200)
        #expect(try sim.admin(.delete, "/faults/\(id)").status == 404)
        #expect(try sim.kite(.get, "/orders").status == 200)
        #expect(try sim.admin(.delete, "/faults").status == 200)
        #expect(try sim.admin(.get, "/faults").json.count == 0)
    }

    @Test func badAdminInputNamesTheField() throws {
        let sim = try SimulatorHarness()
        let cases: [(String, String, String)] = [
            ("/faults", #"{"broker":"nyse","latency_ms":1}"#, "broker"),
            ("/faults", #"{"error_rate":2}"#, "error_rate"),
            ("/faults", #"{"broker":"kite"}"#, "body"),
            ("/faults", #"{"latency_ms":"soon"}"#, "latency_ms"),
            ("/faults", "not json", "body"),
            ("/accounts", #"{"broker":"kite","api_key":"k"}"#, "access_token"),
            ("/seed-trades", #"{"broker":"kite","api_key":"k","count":-1}"#, "count"),
            ("/prices", #"{"broker":"kite","symbol":"INFY","price":"abc"}"#, "price"),
        ]
        for (path, body, field) in cases {
            let reply = try sim.admin(.post, path, json: body)
            #expect(reply.status == 400, "\(path) \(body)")
            #expect(reply.json.text("field") == field, "\(path) \(body): \(reply.text)")
        }
    }
}

/// Polls `condition` for up to 5 s.
func waitUntil(_ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(5)
    while !condition() {
        guard Date() < deadline else { throw Timeout() }
        Thread.sleep(forTimeInterval: 0.02)
    }
}

struct Timeout: Error {}
