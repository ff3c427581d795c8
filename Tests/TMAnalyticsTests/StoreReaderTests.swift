import Foundation
import Testing
import TestSupport
import TMAnalytics
import TMCore
import TMPostgres
import TMRisk

@Suite struct StoreReaderTests {
    @Test func readsAUsersWholeHistoryAcrossAccountsInTimeOrderExactly() async throws {
        let f = try await StoreFixture()
        let user = try f.user("ana")
        let other = try f.user("bob")
        let kite = try f.account(user, broker: "kite")
        let upstox = try f.account(user, broker: "upstox")
        let bobs = try f.account(other, broker: "kite")
        try f.fill(upstox, "U-2", "INFY", "NSE", "sell", qty: "0.5", price: "1500.25", fee: "0.000000001", time: "2024-03-01T10:00:00.000002Z")
        try f.fill(kite, "K-1", "INFY", "NSE", "buy", qty: "2", price: "1499.123456789", fee: "20", time: "2024-03-01T09:15:00.123456Z", category: "swing")
        // Same microsecond: the broker trade id breaks the tie.
        try f.fill(kite, "K-B", "TCS", "NSE", "buy", qty: "1", price: "3000", time: "2024-03-01T10:00:00.000002Z")
        try f.fill(upstox, "U-A", "TCS", "NSE", "sell", qty: "1", price: "3010", time: "2024-03-01T10:00:00.000002Z")
        try f.fill(bobs, "X-1", "INFY", "NSE", "buy", qty: "9", price: "1", time: "2024-03-01T09:00:00Z")

        let batch = try await f.pool.withConnection { try FillReader().read(users: [user], on: $0) }
        #expect(batch.fillCount == 4)
        #expect(batch.users.count == 1)
        let fills = try #require(batch.users.first).fills
        #expect(batch.users[0].userID == user)
        #expect(batch.users[0].currency == "INR")
        #expect(fills.map(\.brokerTradeID) == ["K-1", "K-B", "U-2", "U-A"])
        let first = fills[0]
        #expect(first.symbol == "INFY" && first.exchange == "NSE" && first.side == .buy)
        #expect(first.quantity == FixedDecimal("2")! && first.price == FixedDecimal("1499.123456789")! && first.fee == 20)
        #expect(first.timeMicros == StoreFixture.micros("2024-03-01T09:15:00.123456Z"))
        #expect(first.category == .swing)
        #expect(fills[2].fee == FixedDecimal("0.000000001")! && fills[2].quantity == FixedDecimal("0.5")! && fills[2].side == .sell)
        #expect(fills[2].category == nil)
        await f.close()
    }

    @Test func aUsersCurrenciesAreKeptApartAndTheCapitalGoesToItsOwnCurrency() async throws {
        let f = try await StoreFixture()
        let user = try f.user("ana", capital: "100000", currency: "INR")
        let usdOnly = try f.user("cy", capital: "5000", currency: "USD")
        try f.instrument("AAPL", "NASDAQ", currency: "USD")
        try f.instrument("INFY", "NSE", currency: "INR")
        let kite = try f.account(user, broker: "kite")
        let alpaca = try f.account(user, broker: "alpaca")
        let binance = try f.account(usdOnly, broker: "binance")
        try f.fill(kite, "K-1", "INFY", "NSE", "buy", qty: "1", price: "1500", time: "2024-03-01T09:15:00Z")
        try f.fill(alpaca, "A-1", "AAPL", "NASDAQ", "buy", qty: "1", price: "180", time: "2024-03-01T15:00:00Z")
        // Not in instruments: the broker's currency (alpaca: USD).
        try f.fill(alpaca, "A-2", "MSFT", "NASDAQ", "buy", qty: "1", price: "400", time: "2024-03-02T15:00:00Z")
        try f.fill(kite, "K-2", "INFY", "NSE", "sell", qty: "1", price: "1510", time: "2024-03-04T09:15:00Z")
        try f.fill(binance, "B-1", "BTCUSDT", "BINANCE", "buy", qty: "0.01", price: "60000", time: "2024-03-01T00:00:00Z")

        let batch = try await f.pool.withConnection { try FillReader().read(users: [user, usdOnly], on: $0) }
        #expect(batch.fillCount == 5)
        let groups = Dictionary(uniqueKeysWithValues: batch.users.map { ("\($0.userID)/\($0.currency)", $0) })
        #expect(groups.count == 3)
        let inr = try #require(groups["\(user)/INR"])
        let usd = try #require(groups["\(user)/USD"])
        let usdt = try #require(groups["\(usdOnly)/USDT"])
        #expect(inr.fills.map(\.brokerTradeID) == ["K-1", "K-2"])
        #expect(usd.fills.map(\.brokerTradeID) == ["A-1", "A-2"])
        #expect(inr.capital == 100000)
        #expect(usd.capital == nil)
        // Capital in USD, fills in USDT: no capital for them (never converted).
        #expect(usdt.capital == nil)
        await f.close()
    }

    @Test func aUserWithNoFillsHasNoGroupAndOpenInstrumentsAreTheHeldOnes() async throws {
        let f = try await StoreFixture()
        let idle = try f.user("idle", capital: "1000", currency: "INR")
        let trader = try f.user("ana")
        let kite = try f.account(trader, broker: "kite")
        _ = try f.account(idle, broker: "kite")
        try f.fill(kite, "1", "INFY", "NSE", "buy", qty: "10", price: "100", time: "2024-03-01T09:15:00Z")
        try f.fill(kite, "2", "INFY", "NSE", "sell", qty: "10", price: "101", time: "2024-03-01T10:15:00Z")
        try f.fill(kite, "3", "TCS", "NSE", "sell", qty: "5", price: "3000", time: "2024-03-01T11:15:00Z")
        try f.fill(kite, "4", "TCS", "BSE", "buy", qty: "5", price: "3000", time: "2024-03-01T11:16:00Z")

        let none = try await f.pool.withConnection { try FillReader().read(users: [idle], on: $0) }
        #expect(none.users.isEmpty && none.fillCount == 0 && none.openInstruments.isEmpty)
        let batch = try await f.pool.withConnection { try FillReader().read(users: [idle, trader], on: $0) }
        #expect(batch.users.map(\.userID) == [trader])
        // INFY is flat; TCS on NSE is short 5 and TCS on BSE long 5: different instruments, both open.
        #expect(Set(batch.openInstruments) == [InstrumentKey(symbol: "TCS", exchange: "NSE"), InstrumentKey(symbol: "TCS", exchange: "BSE")])
        await f.close()
    }

    /// The reader has no ORDER BY (migration 0022's note): fills of two accounts interleaved in time,
    /// which Postgres returns account by account, come out in time order, ties by trade id.
    @Test func fillsOfInterleavedAccountsComeOutInTimeOrder() async throws {
        let f = try await StoreFixture()
        let user = try f.user("ana")
        let kite = try f.account(user, broker: "kite")
        let upstox = try f.account(user, broker: "upstox")
        try f.fill(kite, "K-3", "INFY", "NSE", "buy", qty: "1", price: "10", time: "2024-03-01T11:00:00Z")
        try f.fill(upstox, "U-2", "INFY", "NSE", "buy", qty: "1", price: "10", time: "2024-03-01T10:00:00Z")
        try f.fill(kite, "K-1", "INFY", "NSE", "buy", qty: "1", price: "10", time: "2024-03-01T09:00:00Z")
        try f.fill(upstox, "U-4", "INFY", "NSE", "sell", qty: "1", price: "10", time: "2024-03-01T12:00:00Z")
        try f.fill(kite, "K-5", "INFY", "NSE", "sell", qty: "1", price: "10", time: "2024-03-01T12:00:00Z")
        let batch = try await f.pool.withConnection { try FillReader().read(users: [user], on: $0) }
        #expect(batch.users.first?.fills.map(\.brokerTradeID) == ["K-1", "U-2", "K-3", "K-5", "U-4"])
        await f.close()
    }
}
