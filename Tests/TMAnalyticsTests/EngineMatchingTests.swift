import Foundation
import Testing
import TMCore
@testable import TMAnalytics

/// FIFO matching with prorated fees (README "Analytics": matching), hand-computed.
@Suite struct EngineMatchingTests {
    typealias F = EngineFixture

    /// buy 10 @100 fee 1, buy 10 @110 fee 2, sell 15 @120 fee 3:
    /// slice 10 of lot 1: 200 − 1 − 3×10/15 (2) = 197; slice 5 of lot 2: 50 − 2×5/10 (1) − 3×5/15 (1) = 48.
    @Test func aSellClosesTheOldestLotsFirstAcrossPartialLots() {
        let r = F.all([
            F.fill(.buy, "10", at: "100", fee: "1", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.buy, "10", at: "110", fee: "2", time: "2024-03-11T10:05:00+05:30"),
            F.fill(.sell, "15", at: "120", fee: "3", time: "2024-03-11T10:10:00+05:30"),
        ], prices: ["INFY:NSE": "130"])
        #expect(r.realizedPnL == F.d("245"))
        #expect(r.closingFills == 1)
        #expect(r.fees == F.d("6"))
        // The open 5 @110 marked at 130, no fees.
        #expect(r.unrealizedPnL == F.d("100"))
        #expect(r.totalPnL == F.d("345"))
        // Net: every fee paid off the gross: 250 + 100 − 6 (= total − the open lot's uncharged fee 1).
        #expect(r.netPnL == F.d("344"))
        #expect(F.member(AnalyticsEngine.json(r), "open_lot_fees") == .string("1"))
    }

    /// Oldest lot first: buy @100 then @120, sell one @110 closes the 100 lot: +10 (LIFO would say −10).
    @Test func fifoClosesTheOldestLotNotTheNewest() {
        let r = F.all([
            F.fill(.buy, "1", at: "100", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.buy, "1", at: "120", time: "2024-03-11T10:01:00+05:30"),
            F.fill(.sell, "1", at: "110", time: "2024-03-11T10:02:00+05:30"),
        ], prices: ["INFY:NSE": "120"])
        #expect(r.realizedPnL == F.d("10"))
        #expect(r.unrealizedPnL == F.d("0"))
    }

    /// sell 10 @50 fee 0.5, buy 4 @40 fee 0.2, buy 6 @55 fee 0.3: (50−40)×4 − 0.2 − 0.2 = 39.6 and
    /// (50−55)×6 − 0.3 − 0.3 = −30.6.
    @Test func aShortRealizesEntryMinusExit() {
        let r = F.all([
            F.fill(.sell, "10", at: "50", fee: "0.5", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.buy, "4", at: "40", fee: "0.2", time: "2024-03-11T10:01:00+05:30"),
            F.fill(.buy, "6", at: "55", fee: "0.3", time: "2024-03-11T10:02:00+05:30"),
        ])
        #expect(r.realizedPnL == F.d("9"))
        #expect(r.wins == 1 && r.losses == 1)
        #expect(r.largestWin == F.d("39.6"))
        #expect(r.largestLoss == F.d("-30.6"))
    }

    /// A short open at 110 marked at 100 gains 10 a share.
    @Test func anOpenShortIsMarkedEntryMinusPrice() {
        let r = F.all([F.fill(.sell, "2", at: "110", time: "2024-03-11T10:00:00+05:30")], prices: ["INFY:NSE": "100"])
        #expect(r.unrealizedPnL == F.d("20"))
        // Without a cached price: the last fill's price.
        #expect(F.all([F.fill(.sell, "2", at: "110", time: "2024-03-11T10:00:00+05:30")]).unrealizedPnL == F.d("0"))
    }

    /// buy 5 @100; sell 8 @110 fee 0.8 closes 5 (50 − 0.5) and opens a short of 3 carrying 0.3 of
    /// its fee; buy 3 @105 fee 0.3 covers it: 15 − 0.3 − 0.3.
    @Test func aFillLargerThanThePositionFlipsIt() {
        let fills = [
            F.fill(.buy, "5", at: "100", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.sell, "8", at: "110", fee: "0.8", time: "2024-03-11T10:01:00+05:30"),
            F.fill(.buy, "3", at: "105", fee: "0.3", time: "2024-03-11T10:02:00+05:30"),
        ]
        let r = F.all(fills)
        #expect(r.closingFills == 2)
        #expect(r.largestWin == F.d("49.5"))
        #expect(r.realizedPnL == F.d("63.9"))
        #expect(r.unrealizedPnL == F.d("0"))
        // Before the cover: short 3 @110 open, marked at 104.
        let open = F.all(Array(fills.prefix(2)), prices: ["INFY:NSE": "104"])
        #expect(open.unrealizedPnL == F.d("18"))
        #expect(F.member(AnalyticsEngine.json(open), "open_lot_fees") == .string("0.3"))
    }

    /// A fee of 1 over three slices of a third: 0.333333333, 0.333333334, 0.333333333 — the shares
    /// sum to the fee exactly (rounding each share alone would lose 10⁻⁹).
    @Test func proratedFeesSumExactlyToEachFillsFee() {
        let r = F.all([
            F.fill(.buy, "3", at: "10", fee: "1", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.sell, "1", at: "10", time: "2024-03-11T10:01:00+05:30"),
            F.fill(.sell, "1", at: "10", time: "2024-03-11T10:02:00+05:30"),
            F.fill(.sell, "1", at: "10", time: "2024-03-11T10:03:00+05:30"),
        ])
        #expect(r.realizedPnL == F.d("-1"))
        #expect(r.largestLoss == F.d("-0.333333334"))
        #expect(r.netPnL == F.d("-1"))
        // Seven ways a 7-unit fill's fee of 0.000000005 can be split: always exactly the fee.
        for parts in 1...7 {
            var fills = [F.fill(.buy, "7", at: "10", fee: "0.000000005", time: "2024-03-11T10:00:00+05:30")]
            var left = 7, minute = 1
            while left > 0 {
                let q = min(left, parts)
                fills.append(F.fill(.sell, "\(q)", at: "10", time: "2024-03-11T10:\(minute < 10 ? "0" : "")\(minute):00+05:30"))
                left -= q
                minute += 1
            }
            #expect(F.all(fills).realizedPnL == F.d("-0.000000005"))
        }
    }

    /// Products are exact: a thousand closes of 0.2 × 0.000000002 (4 × 10⁻¹⁰ each, below nine
    /// places) sum to 0.0000004; rounding each to nine places would give 0 or 0.000001.
    @Test func pnlIsSummedExactlyAndRoundedOnce() {
        var fills: [AnalyticsFill] = []
        let start = F.micros("2024-03-11T10:00:00+05:30")
        for i in 0..<1000 {
            fills.append(AnalyticsFill(symbol: "X", exchange: "NSE", side: .buy, quantity: F.d("0.2"), price: F.d("1"), fee: .zero,
                                       timeMicros: start + Int64(2 * i), brokerTradeID: "b\(i)"))
            fills.append(AnalyticsFill(symbol: "X", exchange: "NSE", side: .sell, quantity: F.d("0.2"), price: F.d("1.000000002"), fee: .zero,
                                       timeMicros: start + Int64(2 * i + 1), brokerTradeID: "s\(i)"))
        }
        let r = F.all(fills)
        #expect(r.realizedPnL == F.d("0.0000004"))
        #expect(r.closingFills == 1000)
    }

    /// Two fills at the same microsecond are ordered by broker trade id ("2" before "10"), whatever
    /// their order in the input: the sell closes the lot of trade 2 (@100): +5.
    @Test func fillsAtTheSameInstantAreOrderedByTradeID() {
        let time = "2024-03-11T10:00:00+05:30"
        let r = F.all([
            F.fill(.buy, "1", at: "90", time: time, id: "10"),
            F.fill(.buy, "1", at: "100", time: time, id: "2"),
            F.fill(.sell, "1", at: "105", time: "2024-03-11T10:01:00+05:30", id: "11"),
        ])
        #expect(r.realizedPnL == F.d("5"))
        #expect(EngineComputation.tradeIDPrecedes("9", "10"))
        #expect(EngineComputation.tradeIDPrecedes("A-10", "A-9"))
    }

    /// Fills in any order are matched in time order, across the user's accounts (one book per symbol
    /// and exchange: the same symbol on BSE is another position).
    @Test func fillsAreMatchedInTimeOrderPerSymbolAndExchange() {
        let r = F.all([
            F.fill(.sell, "1", at: "110", time: "2024-03-11T10:02:00+05:30"),
            F.fill(.buy, "1", at: "100", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.buy, "1", at: "50", time: "2024-03-11T10:01:00+05:30", exchange: "BSE"),
        ], prices: ["INFY:BSE": "60"])
        #expect(r.realizedPnL == F.d("10"))
        #expect(r.unrealizedPnL == F.d("10"))
    }

    /// Fills after the evaluation instant have not happened yet.
    @Test func fillsAfterTheEvaluationInstantAreIgnored() {
        let r = F.all([
            F.fill(.buy, "1", at: "100", time: "2024-03-11T10:00:00+05:30"),
            F.fill(.sell, "1", at: "110", time: "2024-03-12T10:00:00+05:30"),
        ], asOf: "2024-03-11T18:00:00+05:30")
        #expect(r.closingFills == 0)
        #expect(r.fillsCount == 1)
    }
}
