import Foundation
import Testing
import TestSupport
import TMCore
import TMPortfolio
import TMRedis

/// The valuation's arithmetic, read from real rows and real cached prices, in exact decimals.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ValuationTests {
    /// One user, two accounts at two brokers: a long and a futures contract at Kite (INR), a short,
    /// a position priced by its last fill and one priced at its average at Alpaca (USD).
    @Test func longShortMultiplierAndFallbackPricesAcrossTwoBrokers() async throws {
        let f = try await PortfolioFixture()
        let (infy, nifty, tsla, aapl, msft) = (f.symbol("INFY"), f.symbol("NIFTY"), f.symbol("TSLA"), f.symbol("AAPL"), f.symbol("MSFT"))
        let user = try f.user("asha")
        let kite = try f.account(user, broker: "kite", label: "main")
        let alpaca = try f.account(user, broker: "alpaca", label: "us")
        try f.instrument(infy, "NSE", currency: "INR")
        try f.instrument(nifty, "NFO", currency: "INR", multiplier: 50, type: "future")
        try f.instrument(tsla, "NASDAQ", currency: "USD")
        try f.instrument(aapl, "NASDAQ", currency: "USD")
        try f.instrument(msft, "NASDAQ", currency: "USD")
        try f.position(kite, infy, "NSE", quantity: 10, average: "1500.25".d, realized: "12.5".d)
        try f.position(kite, nifty, "NFO", quantity: 2, average: 24000)
        try f.position(alpaca, tsla, "NASDAQ", quantity: -5, average: "200.40".d)
        try f.position(alpaca, aapl, "NASDAQ", quantity: 3, average: 150)
        try f.position(alpaca, msft, "NASDAQ", quantity: 2, average: 300)
        // AAPL's last fill was yesterday (not a fill of the day): it prices the position, nothing more.
        try f.fill(alpaca, aapl, "NASDAQ", side: "buy", quantity: 3, price: "151.35".d, at: PortfolioFixture.noon.addingTimeInterval(-86_400))
        try f.funds(kite, segment: "equity", currency: "INR", available: 99_000, cash: "100000.10".d)
        try f.funds(kite, segment: "commodity", currency: "INR", available: 50)
        try f.funds(alpaca, currency: "USD", available: 10_000, cash: "5000.5".d, total: 6000)
        try await f.price(infy, "NSE", "1510.75".d, previousClose: "1505.5".d, ageMs: 2_500)
        try await f.price(nifty, "NFO", "24010.5".d, previousClose: 23990)
        try await f.price(tsla, "NASDAQ", "210.15".d, previousClose: 205)

        let v = try await f.valuer().revalue(user: user)
        #expect(v.computedAtMs == f.nowMs && v.day == "2026-12-05")
        func position(_ symbol: String) throws -> PositionValue { try #require(v.positions.first { $0.symbol == symbol }) }

        let long = try position(infy)
        #expect(long.currentPrice == "1510.75".d && long.priceSource == .cache && long.priceFeed == "kite" && long.priceAgeMs(nowMs: f.nowMs) == 2_500)
        #expect(long.marketValue == "15107.5".d && long.unrealizedPnl == 105 && long.dayPnl == "52.5".d && long.dayPnlComplete)
        // The instrument's multiplier (50) applies, not the position row's default 1.
        let future = try position(nifty)
        #expect(future.multiplier == 50 && future.marketValue == 2_401_050 && future.unrealizedPnl == 1_050 && future.dayPnl == 2_050)
        // A short: it is owed (negative value) and loses as the price rises.
        let short = try position(tsla)
        #expect(short.quantity == -5 && short.marketValue == "-1050.75".d)
        #expect(short.unrealizedPnl == "-48.75".d && short.dayPnl == "-25.75".d)
        // No cached price: the last fill, then the average price, each saying so.
        let byFill = try position(aapl)
        #expect(byFill.priceSource == .lastFill && byFill.priceSource.isStale && byFill.currentPrice == "151.35".d)
        #expect(byFill.marketValue == "454.05".d && byFill.unrealizedPnl == "4.05".d)
        #expect(byFill.dayPnl == 0 && !byFill.dayPnlComplete, "held overnight with no previous close: left out, and said so")
        let byAverage = try position(msft)
        #expect(byAverage.priceSource == .averagePrice && byAverage.priceAtMs == nil && byAverage.currentPrice == 300 && byAverage.unrealizedPnl == 0)

        let inr = try #require(v.totals.first { $0.currency == "INR" })
        #expect(inr.cash == "100050.10".d, "Kite's cash where reported, the commodity line's available otherwise")
        // The future adds its P&L (1,050), not its notional (2,401,050): it is margined, not owned.
        #expect(inr.positionsValue == "16157.5".d && inr.totalValue == "116207.6".d)
        #expect(inr.unrealizedPnl == 1_155 && inr.realizedPnl == "12.5".d && inr.dayPnl == "2102.5".d && inr.dayPnlComplete && inr.fallbackPriced == 0)
        let usd = try #require(v.totals.first { $0.currency == "USD" })
        #expect(usd.cash == "5000.5".d && usd.positionsValue == "3.3".d && usd.totalValue == "5003.8".d)
        #expect(usd.unrealizedPnl == "-44.7".d && usd.dayPnl == "-25.75".d && !usd.dayPnlComplete && usd.fallbackPriced == 2)
        #expect(v.totals.map(\.currency) == ["INR", "USD"], "never added across currencies")
        #expect(v.accounts.map(\.label) == ["main", "us"] && v.accounts[1].totals.map(\.currency) == ["USD"])

        // The cached document reads back as what was computed, decimals exact.
        let cached = try #require(try await f.cached(user))
        #expect(cached == v)
        let raw = try #require(try await f.redis.send("GET", "portfolio:\(user.uuidString.lowercased())").string)
        #expect(raw.contains(#""market_value":"-1050.75""#) && raw.contains(#""price_source":"last_fill","stale":true"#))
        await f.cleanUp()
    }

    /// Day P&L with fills of the day: a position opened and partly sold today, one held overnight
    /// and closed today, fees in the instrument's currency counted, fees in another asset not.
    @Test func dayPnlCountsTheDaysFillsAndTheMoveSinceThePreviousClose() async throws {
        let f = try await PortfolioFixture()
        let (tcs, wipro, old) = (f.symbol("TCS"), f.symbol("WIPRO"), f.symbol("OLD"))
        let user = try f.user("ravi")
        let kite = try f.account(user, broker: "kite", label: "main")
        for s in [tcs, wipro, old] { try f.instrument(s, "NSE", currency: "INR") }
        let morning = PortfolioFixture.noon.addingTimeInterval(-3 * 3600)
        // Opened today: bought 10 @ 100, sold 4 @ 110 (fees 2): 6 left at 105, closed yesterday at 98.
        try f.fill(kite, tcs, "NSE", side: "buy", quantity: 10, price: 100, fees: 1, at: morning)
        try f.fill(kite, tcs, "NSE", side: "sell", quantity: 4, price: 110, fees: 1, feeCurrency: "INR", at: morning.addingTimeInterval(60))
        try f.position(kite, tcs, "NSE", quantity: 6, average: 100, realized: 40)
        try await f.price(tcs, "NSE", 105, previousClose: 98)
        // Held 5 overnight (close 200), all sold today at 210: the broker keeps the flat row. Its fee
        // is in another asset (BNB): not an INR amount, left out.
        try f.fill(kite, wipro, "NSE", side: "sell", quantity: 5, price: 210, fees: 7, feeCurrency: "BNB", at: morning)
        try f.position(kite, wipro, "NSE", quantity: 0, average: 0, realized: 50)
        try await f.price(wipro, "NSE", 212, previousClose: 200)
        // Yesterday's fill (of a position since closed and gone) counts for nothing today.
        try f.fill(kite, old, "NSE", side: "buy", quantity: 1, price: 50, at: PortfolioFixture.noon.addingTimeInterval(-86_400))

        let v = try await f.valuer().valuation(user: user)
        let opened = try #require(v.positions.first { $0.symbol == tcs })
        // (440 - 1000) - 2 + 6 x 105 = 68 = realized 4 x 10 + unrealized 6 x 5 - fees 2.
        #expect(opened.dayPnl == 68 && opened.dayPnlComplete)
        #expect(!v.positions.contains { $0.symbol == wipro }, "a flat position is not listed")
        let inr = try #require(v.totals.first)
        // WIPRO: 5 x 210 - 5 x 200 = 50; OLD: no position, no fill today.
        #expect(inr.dayPnl == 118 && inr.realizedPnl == 90 && inr.positionsValue == 630)
        await f.cleanUp()
    }

    /// A disabled account is left out; a paused one still counts (its positions are the user's).
    @Test func disabledAccountsAreLeftOut() async throws {
        let f = try await PortfolioFixture()
        let user = try f.user("mei")
        let paused = try f.account(user, broker: "upstox", label: "paused", status: "paused")
        let gone = try f.account(user, broker: "kite", label: "gone", status: "disabled")
        try f.funds(paused, segment: "equity", currency: "INR", available: 700)
        try f.funds(gone, segment: "equity", currency: "INR", available: 1_000_000, cash: 1_000_000)
        let v = try await f.valuer().valuation(user: user)
        #expect(v.accounts.map(\.label) == ["paused"] && v.totals.first?.cash == 700)
        await f.cleanUp()
    }
}
