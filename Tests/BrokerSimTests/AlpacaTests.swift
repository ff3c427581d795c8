import Foundation
import TMBrokerSim
import Testing

@Suite("Alpaca v2") struct AlpacaTests {
    @Test func wrongOrRevokedKeysAre40110000() throws {
        let sim = try SimulatorHarness()
        #expect(try sim.alpaca(.get, "/v2/orders").status == 200)
        let wrong = try sim.alpaca(.get, "/v2/orders", secret: "nope")
        #expect(wrong.status == 401)
        #expect(wrong.json.text("code") == "40110000")
        #expect(wrong.json.text("message") == "request is not authorized")
        _ = try sim.admin(.post, "/accounts/alpaca/\(SimulatorHarness.alpaca.key)/expire-token")
        #expect(try sim.alpaca(.get, "/v2/orders").status == 401)
    }

    @Test func marketOrderLookUpsAndDuplicateClientIDs() throws {
        let sim = try SimulatorHarness()
        try sim.pin("alpaca", "AAPL", "190.25")
        let placed = try sim.alpacaOrder(qty: "3", clientID: "cid-1")
        #expect(placed.status == 200)
        #expect(placed.json.text("status") == "filled")
        #expect(placed.json.text("filled_avg_price") == "190.25")
        #expect(placed.json.text("filled_qty") == "3")
        let id = try #require(placed.json.text("id"))
        #expect(try sim.alpaca(.get, "/v2/orders/\(id)").json.text("client_order_id") == "cid-1")
        #expect(try sim.alpaca(.get, "/v2/orders:by_client_order_id?client_order_id=cid-1").json.text("id") == id)
        #expect(try sim.alpaca(.get, "/v2/orders:by_client_order_id?client_order_id=none").status == 404)
        // Never reusable, even after the first order filled.
        let duplicate = try sim.alpacaOrder(clientID: "cid-1")
        #expect(duplicate.status == 422)
        #expect(duplicate.json.text("code") == "40010001")
        #expect(duplicate.json.text("message") == "client_order_id must be unique")
        #expect(try sim.truth("alpaca", SimulatorHarness.alpaca.key).text("orders_per_client_id.cid-1") == "1")
        let positions = try sim.alpaca(.get, "/v2/positions").json
        #expect(positions.text("0.qty") == "3")
        #expect(positions.text("0.avg_entry_price") == "190.25")
    }

    @Test func limitOrderPartialFillsShowAsPartialFillActivities() throws {
        let sim = try SimulatorHarness()
        try sim.pin("alpaca", "MSFT", "420")
        let placed = try sim.alpacaOrder("MSFT", qty: "10", type: "limit", limit: "410", clientID: "lim-1")
        #expect(placed.json.text("status") == "new")
        let id = try #require(placed.json.text("id"))
        _ = try sim.admin(.post, "/orders/alpaca/\(SimulatorHarness.alpaca.key)/\(id)/fill", json: #"{"quantity":"4","price":"410"}"#)
        #expect(try sim.alpaca(.get, "/v2/orders/\(id)").json.text("status") == "partially_filled")
        try sim.pin("alpaca", "MSFT", "409.5")
        #expect(try sim.alpaca(.get, "/v2/orders/\(id)").json.text("status") == "filled")
        let fills = try sim.alpaca(.get, "/v2/account/activities/FILL?direction=asc").json
        #expect(fills.text("0.type") == "partial_fill")
        #expect(fills.text("0.leaves_qty") == "6")
        #expect(fills.text("1.type") == "fill")
        #expect(fills.text("1.cum_qty") == "10")
        #expect(fills.text("1.price") == "409.5")
    }

    @Test func fillActivitiesArePagedByPageToken() throws {
        let sim = try SimulatorHarness()
        let seeded = try sim.admin(.post, "/seed-trades", json: #"{"broker":"alpaca","api_key":"\#(SimulatorHarness.alpaca.key)","count":250,"symbols":["AAPL","MSFT"]}"#)
        #expect(seeded.json.text("added") == "250")
        var ids: [String] = []
        var pages: [Int] = []
        var token: String?
        repeat {
            let path = "/v2/account/activities/FILL?page_size=100" + (token.map { "&page_token=\($0)" } ?? "")
            let page = try #require(try sim.alpaca(.get, path).json.arrayValue)
            pages.append(page.count)
            ids += page.compactMap { $0.text("id") }
            token = page.count == 100 ? page.last?.text("id") : nil
        } while token != nil
        #expect(pages == [100, 100, 50])
        #expect(Set(ids).count == 250)
        #expect(try sim.alpaca(.get, "/v2/account/activities/FILL?page_size=101").status == 422)
    }

    @Test func cancelIs204ThenTheStateError() throws {
        let sim = try SimulatorHarness()
        try sim.pin("alpaca", "AAPL", "190")
        let id = try #require(try sim.alpacaOrder(type: "limit", limit: "150", clientID: "c-cancel").json.text("id"))
        #expect(try sim.alpaca(.delete, "/v2/orders/\(id)").status == 204)
        let again = try sim.alpaca(.delete, "/v2/orders/\(id)")
        #expect(again.status == 422)
        #expect(try sim.alpaca(.get, "/v2/orders?status=closed").json.text("0.status") == "canceled")
        #expect(try sim.alpaca(.delete, "/v2/orders/00000000-0000-0000-0000-000000000000").status == 404)
        #expect(try sim.alpacaOrder("ZZZZ", clientID: "bad-symbol").status == 422)
    }
}
