import Foundation
import TMBrokerSim
import TMHTTP
import Testing

@Suite("Server, admin and truth") struct ServerAndAdminTests {
    @Test func keepAliveReusesTheConnection() throws {
        let sim = try SimulatorHarness()
        _ = try sim.admin(.get, "/health")
        let second = try sim.admin(.get, "/health")
        #expect(second.response.metrics.reusedConnection)
        #expect(second.json.text("status") == "ok")
    }

    @Test func manyConcurrentConnections() throws {
        let sim = try SimulatorHarness()
        let url = sim.base + "/upstox/v2/order/retrieve-all"
        let failures = ConcurrentCounter()
        DispatchQueue.concurrentPerform(iterations: 24) { _ in
            guard let client = try? HTTPClient(configuration: .init(timeout: .seconds(10), proxy: .none)) else { return failures.add() }
            for _ in 0..<10 {
                let reply = try? client.send(HTTPRequest(.get, url, headers: [("Authorization", "Bearer \(SimulatorHarness.upstox.token)")]))
                if reply?.status != 200 { failures.add() }
            }
        }
        #expect(failures.value == 0)
    }

    @Test func unknownRoutesAre404() throws {
        let sim = try SimulatorHarness()
        #expect(try sim.send(HTTPRequest(.get, sim.base + "/nyse/orders")).status == 404)
        #expect(try sim.kite(.get, "/nothing").status == 404)
        #expect(try sim.admin(.get, "/nothing").status == 404)
    }

    @Test func truthCountsOrdersPerClientIDAndTracksCorrections() throws {
        let sim = try SimulatorHarness()
        try sim.pin("kite", "RELIANCE", "2900")
        _ = try sim.kiteOrder("RELIANCE", quantity: "2", tag: "t-a")
        _ = try sim.kiteOrder("RELIANCE", quantity: "1", tag: "t-a")
        _ = try sim.kiteOrder("RELIANCE", quantity: "1", tag: "t-b")
        var truth = try sim.truth("kite", SimulatorHarness.kite.key)
        #expect(truth.text("orders_per_client_id.t-a") == "2")
        #expect(truth.text("orders_per_client_id.t-b") == "1")
        #expect(truth["trades"]?.count == 3)
        #expect(truth.text("positions.0.quantity") == "4")
        let tradeID = try #require(truth.text("trades.0.trade_id"))
        let corrected = try sim.admin(.post, "/trades/kite/\(SimulatorHarness.kite.key)/\(tradeID)", json: #"{"price":"2895.5","fee":"1.25"}"#)
        #expect(corrected.status == 200)
        truth = try sim.truth("kite", SimulatorHarness.kite.key)
        #expect(truth.text("trades.0.price") == "2895.5")
        #expect(truth.text("trades.0.fee") == "1.25")
        #expect(try sim.kite(.get, "/trades").json.text("data.0.average_price") == "2895.5")
        #expect(try sim.admin(.post, "/trades/kite/\(SimulatorHarness.kite.key)/nope", json: "{}").status == 404)
        #expect(try sim.admin(.get, "/truth?broker=kite&api_key=nobody").status == 404)
    }

    @Test func accountsSeedAndReset() throws {
        let sim = try SimulatorHarness()
        let created = try sim.admin(.post, "/accounts", json: #"{"broker":"binance","api_key":"k2","api_secret":"s2"}"#)
        #expect(created.status == 200)
        let seeded = try sim.admin(.post, "/seed-trades", json: #"{"broker":"binance","api_key":"k2","count":5,"symbols":["ETHUSDT"]}"#)
        #expect(seeded.json.text("added") == "5")
        #expect(try sim.binance(.get, "/api/v3/myTrades", [("symbol", "ETHUSDT")], secret: "s2", apiKey: "k2").json.count == 5)
        #expect(try sim.admin(.post, "/reset").status == 200)
        #expect(try sim.truth("binance", "k2")["trades"]?.count == 0)
    }

    @Test func demoAccountsMatchTheDemoData() throws {
        var configuration = BrokerSimulator.Configuration()
        configuration.demo = true
        let simulator = try BrokerSimulator(configuration: configuration)
        defer { simulator.stop() }
        #expect(DemoAccounts.all.count == 6)
        for account in DemoAccounts.all {
            #expect(simulator.exchange.credentials(account.broker, apiKey: account.apiKey)?.apiSecret == account.apiSecret)
            #expect(!simulator.exchange.trades(account.broker, apiKey: account.apiKey).isEmpty)
        }
    }
}

/// A thread-safe counter for concurrent checks.
final class ConcurrentCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
