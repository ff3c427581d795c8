import Foundation
import Testing
import TMCore
@testable import TMAnalytics

/// Closing fills, wins/losses/break-evens and the ratios on them (README "Analytics"), hand-computed.
@Suite struct EngineClosingStatsTests {
    typealias F = EngineFixture

    /// One-share round trips on 2024-03-11, one a minute, realizing `pnls` in order.
    static func closes(_ pnls: [String]) -> [AnalyticsFill] {
        var fills: [AnalyticsFill] = []
        for (i, pnl) in pnls.enumerated() {
            let minute = i * 2
            func t(_ m: Int) -> String { "2024-03-11T10:\(m < 10 ? "0" : "")\(m):00+05:30" }
            fills.append(F.fill(.buy, "1", at: "100", time: t(minute)))
            fills.append(F.fill(.sell, "1", at: (F.d("100") + F.d(pnl)).description, time: t(minute + 1)))
        }
        return fills
    }

    /// +10 +5 +1 0 −3 −4 +2: wins 4, losses 2, one break-even; win rate 4/6; profit factor 18/7.
    @Test func winsLossesAndBreakEvensAndTheirRatios() {
        let r = F.all(Self.closes(["10", "5", "1", "0", "-3", "-4", "2"]))
        #expect(r.closingFills == 7)
        #expect(r.wins == 4 && r.losses == 2 && r.breakEvens == 1)
        #expect(r.winRate == 4.0 / 6.0)
        #expect(r.grossProfit == F.d("18") && r.grossLoss == F.d("-7"))
        #expect(r.profitFactor == 18.0 / 7.0)
        #expect(r.averageWin == F.d("4.5") && r.averageLoss == F.d("-3.5"))
        #expect(r.largestWin == F.d("10") && r.largestLoss == F.d("-4"))
        // 11 / 7, rounded half away from zero to nine places.
        #expect(r.expectancy == F.d("1.571428571"))
        #expect(r.realizedPnL == F.d("11"))
        #expect(r.maxConsecutiveWins == 3 && r.maxConsecutiveLosses == 2)
    }

    /// A zero-P&L close is a break-even: not a win, not a loss; alone it leaves the win rate and
    /// profit factor undefined.
    @Test func aZeroPnLCloseIsABreakEvenCountedApart() {
        let r = F.all(Self.closes(["0", "0"]))
        #expect(r.closingFills == 2 && r.breakEvens == 2 && r.wins == 0 && r.losses == 0)
        #expect(r.winRate == nil)
        #expect(r.profitFactor == nil)
        #expect(r.expectancy == F.d("0"))
        #expect(r.averageWin == nil && r.largestLoss == nil)
    }

    /// No losses: the profit factor is undefined (null), never infinity; the win rate is 1.
    @Test func profitFactorIsUndefinedWithoutLosses() {
        let r = F.all(Self.closes(["3", "1"]))
        #expect(r.profitFactor == nil)
        #expect(r.winRate == 1)
        #expect(F.member(AnalyticsEngine.json(r), "profit_factor") == .null)
        // Losses only: 0, defined.
        #expect(F.all(Self.closes(["-3"])).profitFactor == 0)
    }

    /// A break-even ends a run: +1 +1 0 +1 is a longest run of two wins.
    @Test func aBreakEvenEndsARun() {
        let r = F.all(Self.closes(["1", "1", "0", "1", "-1", "-1", "0", "-1"]))
        #expect(r.maxConsecutiveWins == 2)
        #expect(r.maxConsecutiveLosses == 2)
    }
}
