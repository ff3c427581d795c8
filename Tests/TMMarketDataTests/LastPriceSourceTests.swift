import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMHTTP

/// Each adapter's last prices and quotes (with the previous close) against broker-sim over real
/// HTTP, and against answers in the brokers' documented shapes.
@Suite(.serialized) struct LastPriceSourceTests {
    func d(_ text: String) -> Decimal { DecimalText.parse(text)! }

    @Test func eachAdapterPricesItsInstrumentsAndLeavesUnknownOnesOut() async throws {
        let h = try await MarketDataHarness(brokers: [])
        defer { Task { await h.cleanUp() } }
        try h.pin(.kite, "INFY", "1402.55")
        try h.pin(.upstox, "INFY", "1402.6")
        try h.pin(.alpaca, "AAPL", "187.12")
        try h.pin(.binance, "BTCUSDT", "64001.5")
        let cases: [(BrokerKind, InstrumentRef, InstrumentRef, String, String)] = [
            (.kite, InstrumentRef(symbol: "INFY", exchange: "NSE"), InstrumentRef(symbol: "NOPE", exchange: "NSE"), "1402.55", "1500"),
            (.upstox, InstrumentRef(symbol: "INFY", exchange: "NSE", brokerToken: "NSE_EQ|INE009A01021"),
             InstrumentRef(symbol: "NOPE", exchange: "NSE", brokerToken: "NSE_EQ|INE000000000"), "1402.6", "1500"),
            (.alpaca, InstrumentRef(symbol: "AAPL", exchange: "NASDAQ"), InstrumentRef(symbol: "NOPE", exchange: "NASDAQ"), "187.12", "190"),
            (.binance, InstrumentRef(symbol: "BTCUSDT", exchange: "BINANCE"), InstrumentRef(symbol: "NOPEUSDT", exchange: "BINANCE"), "64001.5", "65000"),
        ]
        for (broker, known, unknown, price, close) in cases {
            let source = h.source(broker)
            let last = try await source.lastPrices([known, unknown], credentials: h.credentials(broker))
            #expect(last == [LastPrice(instrument: known, price: d(price), tradedAt: last.first?.tradedAt)], "\(broker) last prices: \(last)")
            let quotes = try await source.quotes([unknown, known], credentials: h.credentials(broker))
            #expect(quotes.map(\.instrument) == [known] && quotes.first?.price == d(price) && quotes.first?.previousClose == d(close),
                    "\(broker) quotes: \(quotes)")
        }
    }

    @Test func largeListsGoInBatchesWithinEachBrokersLimit() async throws {
        // 1,001 Kite instruments: two /quote/ltp requests (Kite takes 1,000 a call); broker-sim refuses more.
        let h = try await MarketDataHarness(brokers: [])
        defer { Task { await h.cleanUp() } }
        try h.pin(.kite, "INFY", "1400")
        let many = [InstrumentRef(symbol: "INFY", exchange: "NSE")] + (0..<1000).map { InstrumentRef(symbol: "X\($0)", exchange: "NSE") }
        let prices = try await h.source(.kite).lastPrices(many, credentials: h.credentials(.kite))
        #expect(prices.map(\.price) == [d("1400")])
        #expect(QuoteBatches.requests(.kite, count: 1001) == 2 && QuoteBatches.requests(.upstox, count: 500) == 1
                && QuoteBatches.requests(.binance, count: 101) == 2)
    }

    /// Answers in the shapes the brokers document (Kite `/quote/ohlc`, Upstox v3 OHLC, Alpaca
    /// snapshots, Binance 24-hour ticker), served by a scripted loopback server.
    @Test func quotesReadTheBrokersDocumentedShapes() async throws {
        let server = try TestHTTPServer { request in
            switch request.path {
            case "/kite/quote/ohlc":
                return .json(200, #"{"status":"success","data":{"NSE:INFY":{"instrument_token":408065,"last_price":1075,"ohlc":{"open":1085.8,"high":1085.9,"low":1070.9,"close":1075.8}}}}"#)
            case "/upstox/v3/market-quote/ohlc":
                return .json(200, #"{"status":"success","data":{"NSE_EQ:INFY":{"last_price":1432.3,"instrument_token":"NSE_EQ|INE009A01021","prev_ohlc":{"open":1440,"high":1445.6,"low":1421.1,"close":1437.55,"volume":5437819,"ts":1740681000000},"live_ohlc":{"open":1436,"high":1436.9,"low":1430,"close":1432.3,"volume":312412,"ts":1740767400000}}}}"#)
            case "/alpaca-data/v2/stocks/snapshots":
                return .json(200, #"{"AAPL":{"latestTrade":{"t":"2024-02-27T20:59:59.998863Z","x":"V","p":182.63,"s":100,"c":["@"],"i":9896,"z":"C"},"latestQuote":{"t":"2024-02-27T20:59:59.998Z","ax":"V","ap":182.7,"as":2,"bx":"V","bp":182.6,"bs":4,"c":["R"],"z":"C"},"minuteBar":{"t":"2024-02-27T20:59:00Z","o":182.5,"h":182.7,"l":182.4,"c":182.6,"v":25417,"n":287,"vw":182.56},"dailyBar":{"t":"2024-02-27T05:00:00Z","o":181.1,"h":183.92,"l":179.56,"c":182.63,"v":53423102,"n":632112,"vw":182.0},"prevDailyBar":{"t":"2024-02-26T05:00:00Z","o":182.24,"h":182.76,"l":180.65,"c":181.16,"v":40867421,"n":501412,"vw":181.5}}}"#)
            case "/binance/api/v3/ticker/24hr":
                return .json(200, #"[{"symbol":"BTCUSDT","priceChange":"-94.99999800","priceChangePercent":"-95.960","weightedAvgPrice":"0.29628482","prevClosePrice":"0.10002000","lastPrice":"4.00000200","lastQty":"200.00000000","bidPrice":"4.00000000","bidQty":"100.00000000","askPrice":"4.00000200","askQty":"100.00000000","openPrice":"99.00000000","highPrice":"100.00000000","lowPrice":"0.10000000","volume":"8913.30000000","quoteVolume":"15.30000000","openTime":1499783499040,"closeTime":1499869899040,"firstId":28385,"lastId":28460,"count":76}]"#)
            default:
                return .json(404, #"{"status":"error","message":"no route"}"#)
            }
        }
        defer { server.stop() }
        let http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 1, name: "md-shapes")
        defer { http.shutdown() }
        let endpoints = BrokerEndpoints.simulator(port: Int(server.port))
        let credentials = BrokerCredentials.plain(apiKey: "k", apiSecret: "s", accessToken: "t")
        let expected: [(BrokerKind, InstrumentRef, String, String)] = [
            (.kite, InstrumentRef(symbol: "INFY", exchange: "NSE"), "1075", "1075.8"),
            (.upstox, InstrumentRef(symbol: "INFY", exchange: "NSE", brokerToken: "NSE_EQ|INE009A01021"), "1432.3", "1437.55"),
            (.alpaca, InstrumentRef(symbol: "AAPL"), "182.63", "181.16"),
            (.binance, InstrumentRef(symbol: "BTCUSDT"), "4.000002", "0.10002"),
        ]
        for (broker, instrument, price, close) in expected {
            let source = BrokerAdapters.make(broker, endpoints: endpoints, http: http) as! any LastPriceSource
            let quotes = try await source.quotes([instrument], credentials: credentials)
            #expect(quotes.count == 1 && quotes.first?.price == d(price) && quotes.first?.previousClose == d(close), "\(broker): \(quotes)")
        }
    }
}
