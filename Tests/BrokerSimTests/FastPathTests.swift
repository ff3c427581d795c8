import Foundation
import TMBrokerSim
import TMCore
import Testing

/// The simulator's cheap paths (issue 11's order benchmark) answer exactly as the slow ones did: the
/// exchange's indexes of working limit orders, and the text and decimal shortcuts, each compared with
/// the operation it replaces.
@Suite("broker-sim fast paths") struct FastPathTests {
    static let kite = SimCredentials(apiKey: "k1", apiSecret: "s1", accessToken: "t1")

    static func exchange() -> Exchange {
        let exchange = Exchange()
        exchange.upsertAccount(.kite, kite)
        exchange.upsertAccount(.kite, SimCredentials(apiKey: "k2", apiSecret: "s2", accessToken: "t2"))
        return exchange
    }

    static func limitBuy(_ price: String, quantity: Decimal = 4) -> OrderTicket {
        OrderTicket(symbol: "INFY", side: .buy, type: .limit, quantity: quantity, limitPrice: Decimal(string: price)!, product: "CNC",
                    variety: "regular")
    }

    // MARK: Matching sees every working limit order, and only those

    @Test func aRestingLimitOrderFillsOnceThePriceCrosses() throws {
        let exchange = Self.exchange()
        #expect(exchange.pinPrice(.kite, "INFY", 1500))
        let resting = try exchange.place(.kite, apiKey: "k1", Self.limitBuy("1490"), clientIDRule: .none)
        _ = try exchange.place(.kite, apiKey: "k2", OrderTicket(symbol: "INFY", side: .buy, type: .market, quantity: 1), clientIDRule: .none)
        exchange.matchResting(force: true)
        #expect(exchange.order(.kite, apiKey: "k1", id: resting.id)?.status == .open)
        #expect(exchange.pinPrice(.kite, "INFY", 1485))
        exchange.matchResting(force: true)
        let filled = try #require(exchange.order(.kite, apiKey: "k1", id: resting.id))
        #expect(filled.status == .filled)
        #expect(filled.averagePrice == 1485)
    }

    @Test func anOrderReopenedByATradeCorrectionRestsAgain() throws {
        let exchange = Self.exchange()
        #expect(exchange.pinPrice(.kite, "INFY", 1500))
        let order = try exchange.place(.kite, apiKey: "k1", Self.limitBuy("1510"), clientIDRule: .none)
        #expect(order.status == .filled)  // crossed on arrival
        let trade = try #require(exchange.trades(.kite, apiKey: "k1").first)
        _ = try exchange.correctTrade(.kite, apiKey: "k1", tradeID: trade.id, price: nil, quantity: 1, fee: nil)
        #expect(exchange.order(.kite, apiKey: "k1", id: order.id)?.status == .partiallyFilled)
        exchange.matchResting(force: true)
        let refilled = try #require(exchange.order(.kite, apiKey: "k1", id: order.id))
        #expect(refilled.status == .filled)
        #expect(refilled.filledQuantity == 4)
        #expect(exchange.trades(.kite, apiKey: "k1").count == 2)
    }

    @Test func cancelledAndModifiedOrdersAreMatchedByWhatTheyAreNow() throws {
        let exchange = Self.exchange()
        #expect(exchange.pinPrice(.kite, "INFY", 1500))
        let cancelled = try exchange.place(.kite, apiKey: "k1", Self.limitBuy("1490"), clientIDRule: .none)
        let modified = try exchange.place(.kite, apiKey: "k1", Self.limitBuy("1480"), clientIDRule: .none)
        _ = try exchange.cancel(.kite, apiKey: "k1", orderID: cancelled.id)
        _ = try exchange.modify(.kite, apiKey: "k1", orderID: modified.id, quantity: nil, type: nil, limitPrice: 1470, timeInForce: nil)
        #expect(exchange.pinPrice(.kite, "INFY", 1475))
        exchange.matchResting(force: true)
        #expect(exchange.order(.kite, apiKey: "k1", id: cancelled.id)?.status == .cancelled)
        #expect(exchange.order(.kite, apiKey: "k1", id: modified.id)?.status == .open)  // 1470 no longer crosses 1475
        #expect(exchange.pinPrice(.kite, "INFY", 1470))
        exchange.matchResting(force: true)
        #expect(exchange.order(.kite, apiKey: "k1", id: modified.id)?.status == .filled)
        #expect(exchange.trades(.kite, apiKey: "k1").count == 1)
    }

    // MARK: Text and decimal shortcuts

    @Test func timestampsMatchStringFormat() {
        // Across years, days and fractions (the shortcut pads by hand what %0Nd pads).
        var seconds = -62_135_596_800.0  // year 1
        while seconds < 300_000_000_000 {
            let date = Date(timeIntervalSince1970: seconds)
            let exact = date.timeIntervalSince1970
            var india = time_t(Int(exact.rounded(.down)) + 19_800)
            var utc = time_t(Int(exact.rounded(.down)))
            var i = tm()
            var u = tm()
            gmtime_r(&india, &i)
            gmtime_r(&utc, &u)
            #expect(Timestamps.india(date) == String(format: "%04d-%02d-%02d %02d:%02d:%02d", Int(i.tm_year) + 1900, Int(i.tm_mon) + 1,
                                                     Int(i.tm_mday), Int(i.tm_hour), Int(i.tm_min), Int(i.tm_sec)))
            let micros = Int((exact * 1_000_000).rounded(.down)) % 1_000_000
            #expect(Timestamps.rfc3339(date) == String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(u.tm_year) + 1900, Int(u.tm_mon) + 1,
                                                       Int(u.tm_mday), Int(u.tm_hour), Int(u.tm_min), Int(u.tm_sec), micros))
            seconds += 987_654_321.123_457
        }
    }

    @Test func decimalShortcutsMatchDivision() {
        let values = ["0", "1", "3", "7", "25", "1500", "1530.05", "0.05", "0.00001", "65000.12", "3200.5", "123456789.123", "0.3", "-4.5", "1e20"]
            .map { Decimal(string: $0)! }
        let steps = ["1", "0.05", "0.01", "0.00001", "25", "0.001", "3", "7"].map { Decimal(string: $0)! }
        for value in values {
            for step in steps {
                let ratio = value / step
                #expect(value.isMultiple(of: step) == (ratio == ratio.rounded(scale: 0, .down)), "\(value) / \(step)")
                #expect(value.divided(by: step, roundedToScale: 8) == (value / step).rounded(scale: 8), "\(value) / \(step)")
                #expect(value.divided(by: step, roundedToScale: 2) == (value / step).rounded(scale: 2), "\(value) / \(step)")
            }
        }
    }

    @Test func formFieldsDecodeAsTheTextWould() {
        let cases: [String: [(String, String)]] = [
            "a=1&b=2": [("a", "1"), ("b", "2")],
            "&&a=&=x&b&c=1=2&": [("a", ""), ("", "x"), ("b", ""), ("c", "1=2")],
            "tag=a+b%20c%2&x=%zz%41": [("tag", "a b c%2"), ("x", "%zzA")],
            "name=%E2%82%AC&ü=é+%C3%BC": [("name", "€"), ("ü", "é ü")],
            "": [],
        ]
        for (encoded, expected) in cases {
            let pairs = FormFields(encoded: encoded).pairs
            #expect(pairs.map(\.name) == expected.map(\.0), "\(encoded)")
            #expect(pairs.map(\.value) == expected.map(\.1), "\(encoded)")
        }
    }

    @Test func headerNamesCompareCaseInsensitively() {
        let request = HTTPServerRequest(method: "GET", path: "/", query: "", headers: [("X-Kite-Version", "3"), ("authorization", "token a:b"), ("Straße", "ß")],
                                        body: Data())
        #expect(request.header("x-kite-version") == "3")
        #expect(request.header("AUTHORIZATION") == "token a:b")
        #expect(request.header("Authorizatio") == nil)
        #expect(request.header("STRASSE") == (("Straße".caseInsensitiveCompare("STRASSE") == .orderedSame) ? "ß" : nil))
    }
}
