import Foundation
import Testing

/// Every fixture is the broker's own and says where it came from; every endpoint an adapter calls
/// (and the ones the order path and market data add) has at least one.
@Suite struct FixtureCatalogTests {
    /// The endpoints each adapter calls or will call, as `SOURCES.md` names them; `error` rows hold
    /// the broker's documented error samples.
    static let required: [String: [String]] = [
        "kite": ["POST /orders/regular", "PUT /orders/regular/{order_id}", "DELETE /orders/regular/{order_id}", "GET /orders",
                 "GET /trades", "GET /portfolio/positions", "GET /user/margins", "GET /quote/ltp", "error"],
        "upstox": ["POST /v2/order/place", "PUT /v2/order/modify", "DELETE /v2/order/cancel", "GET /v2/order/retrieve-all",
                   "GET /v2/order/history", "GET /v2/order/trades/get-trades-for-day", "GET /v2/portfolio/short-term-positions",
                   "GET /v2/user/get-funds-and-margin", "GET /v2/market-quote/ltp", "error"],
        "alpaca": ["POST /v2/orders", "PATCH /v2/orders/{order_id}", "DELETE /v2/orders/{order_id}", "GET /v2/orders",
                   "GET /v2/orders:by_client_order_id", "GET /v2/account/activities/FILL", "GET /v2/positions", "GET /v2/account",
                   "GET /v2/stocks/trades/latest", "error"],
        "binance": ["POST /api/v3/order", "POST /api/v3/order/cancelReplace", "DELETE /api/v3/order", "GET /api/v3/openOrders",
                    "GET /api/v3/allOrders", "GET /api/v3/order", "GET /api/v3/myTrades", "GET /api/v3/account",
                    "GET /api/v3/ticker/price", "error"],
    ]

    @Test(arguments: ["kite", "upstox", "alpaca", "binance"])
    func everyFixtureHasItsSourceAndEveryEndpointAFixture(_ broker: String) throws {
        let sources = try Fixture.sources(broker)
        let folder = Fixture.root.appendingPathComponent(broker)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0 != "SOURCES.md" }.sorted()
        #expect(Set(files) == Set(sources.map(\.file)), "files and SOURCES.md rows differ")
        for source in sources {
            #expect(source.source.hasPrefix("https://") || source.source.contains("/"), "\(source.file): no source")
            if source.file.hasSuffix(".json") {
                #expect(throws: Never.self, "\(source.file) is not JSON") { _ = try Fixture.json("\(broker)/\(source.file)") }
            }
        }
        // A sample printed with comments is kept as printed (.txt) beside its JSON (README's rule);
        // an excerpt of a documentation page is the one .txt without a twin.
        for file in files where file.hasSuffix(".txt") && !file.contains("excerpt") {
            #expect(files.contains(String(file.dropLast(4)) + ".json"), "\(file) has no .json twin")
        }
        let covered = Set(sources.map(\.endpoint))
        for endpoint in Self.required[broker]! {
            #expect(covered.contains(endpoint), "\(broker): no fixture for \(endpoint)")
        }
    }
}
