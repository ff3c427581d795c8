import Foundation
import Testing
import TMCore
@testable import TMAnalytics

/// Daily returns against the capital, Sharpe, drawdown, annualised return, Calmar, recovery
/// (README "Analytics"); the empyrical vectors of REFERENCE.md.
@Suite struct EngineReturnsTests {
    typealias F = EngineFixture

    /// The nine weekdays from Mon 2024-01-01 to Thu 2024-01-11 (a weekend in between).
    static let weekdays = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05",
                           "2024-01-08", "2024-01-09", "2024-01-10", "2024-01-11"]

    /// One close a weekday realizing `percents` of a 100 000 capital.
    static func series(_ percents: [Int], riskFree: Double = 0) -> AnalyticsReport {
        var fills: [AnalyticsFill] = []
        for (day, percent) in zip(weekdays, percents) { fills += F.roundTrip(day: day, pnl: "\(percent * 1000)") }
        return F.all(fills, capital: "100000", asOf: "2024-01-11T18:00:00+05:30", riskFree: riskFree)
    }

    static func close(_ a: Double?, _ b: Double, tolerance: Double = 1e-9) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tolerance * max(1, abs(b))
    }

    @Test func sharpeMatchesEmpyricalsVectors() {
        #expect(Self.close(ReturnSeries.sharpe([0.01, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01], riskFreeDaily: 0), 52.915026221291804))
        #expect(Self.close(ReturnSeries.sharpe([0, -0.06, -0.07, -0.01, -0.09, -0.02, -0.06, -0.08, -0.05], riskFreeDaily: 0), -24.406808633910085))
        // Through the engine: the same returns as realized P&L ÷ capital, one per weekday.
        let up = Self.series([1, 2, 1, 1, 1, 1, 1, 1, 1])
        #expect(Self.close(up.sharpe, 52.915026221291804))
        #expect(F.member(AnalyticsEngine.json(up), "returns", "days") == .number("9"))
        #expect(Self.close(Self.series([0, -6, -7, -1, -9, -2, -6, -8, -5]).sharpe, -24.406808633910085))
    }

    /// rf daily = 1.05^(1/252) − 1 subtracted from every return: 51.99288952150034 (Python statistics).
    @Test func sharpeSubtractsTheDailyRiskFreeRate() {
        #expect(Self.close(Self.series([1, 2, 1, 1, 1, 1, 1, 1, 1], riskFree: 0.05).sharpe, 51.99288952150034))
        #expect(ReturnSeries.dailyRate(annual: 0.05) == pow(1.05, 1.0 / 252) - 1)
    }

    @Test func sharpeIsUndefinedWithOneReturnOrZeroDeviation() {
        #expect(ReturnSeries.sharpe([0.01], riskFreeDaily: 0) == nil)
        #expect(ReturnSeries.sharpe([0.01, 0.01, 0.01], riskFreeDaily: 0.0001) == nil)
        let one = F.all(F.roundTrip(day: "2024-01-01", pnl: "10"), capital: "1000", asOf: "2024-01-01T18:00:00+05:30")
        #expect(one.sharpe == nil)
        #expect(F.member(AnalyticsEngine.json(one), "sharpe") == .null)
        #expect(Self.series([1, 1, 1, 1, 1, 1, 1, 1, 1]).sharpe == nil)
    }

    /// Only weekdays are returns: a Saturday close (crypto, UTC) counts in Friday's return.
    @Test func returnsAreOnePerWeekday() {
        let fills = F.roundTrip(day: "2024-01-05", pnl: "10") + [
            F.fill(.buy, "1", "BTCUSDT", at: "100", time: "2024-01-06T10:00:00Z", exchange: "BINANCE"),
            F.fill(.sell, "1", "BTCUSDT", at: "120", time: "2024-01-06T11:00:00Z", exchange: "BINANCE"),
        ] + F.roundTrip(day: "2024-01-08", pnl: "-10")
        let r = F.all(fills, capital: "1000", asOf: "2024-01-08T18:00:00+05:30")
        #expect(F.member(AnalyticsEngine.json(r), "returns", "days") == .number("2"))
        // Returns [0.03, −0.01]: mean 0.01, sample deviation 0.02·√2 → 0.01/0.028284… × √252.
        #expect(Self.close(r.sharpe, 0.01 / (0.02 * 2.0.squareRoot()) * 252.0.squareRoot()))
    }

    /// empyrical's [10, −10, 10] % → −0.10 on the compounding curve 100 → 110 → 99 → 108.9.
    @Test func maxDrawdownMatchesEmpyricalsVector() {
        let e18: Int128 = 1_000_000_000_000_000_000
        let curve = ReturnSeries.drawdown(baseline: 100 * e18, changes: [10 * e18, -11 * e18, 99 * e18 / 10])
        #expect(curve.fraction == -0.1)
        #expect(curve.amount == -11 * e18)
        let r = F.all(F.roundTrip(day: "2024-01-01", pnl: "10") + F.roundTrip(day: "2024-01-02", pnl: "-11") + F.roundTrip(day: "2024-01-03", pnl: "9.9"),
                      capital: "100", asOf: "2024-01-03T18:00:00+05:30")
        #expect(r.maxDrawdown == -0.1)
        #expect(r.maxDrawdownAmount == F.d("-11"))
        // Annualised: (108.9 / 100)^(252/3) − 1; Calmar = that / 0.1; recovery = net 8.9 / 11.
        let annual = pow(1.089, 252.0 / 3) - 1
        #expect(Self.close(r.annualizedReturn, annual))
        #expect(Self.close(r.calmar, annual / 0.1))
        #expect(Self.close(r.recoveryFactor, 8.9 / 11))
    }

    /// The capital is the first peak: a loss on the first day is a drawdown.
    @Test func drawdownStartsFromTheCapital() {
        let r = F.all(F.roundTrip(day: "2024-01-01", pnl: "-10") + F.roundTrip(day: "2024-01-02", pnl: "5"),
                      capital: "100", asOf: "2024-01-02T18:00:00+05:30")
        #expect(r.maxDrawdown == -0.1)
        #expect(r.maxDrawdownAmount == F.d("-10"))
    }

    /// A week's equity starts at the capital plus the realized P&L before it: 110, then −11 → −0.1.
    @Test func aPeriodsEquityStartsAtCapitalPlusEarlierRealized() {
        let reports = AnalyticsEngine().reports(
            for: F.user(F.roundTrip(day: "2024-01-01", pnl: "10") + F.roundTrip(day: "2024-01-08", pnl: "-11"), capital: "100"),
            context: F.context(asOf: "2024-01-12T18:00:00+05:30"))
        let second = reports.first { $0.period == .week && $0.periodStart == "2024-01-08" }!
        #expect(second.maxDrawdown == -0.1)
        #expect(F.member(AnalyticsEngine.json(second), "returns", "days") == .number("5"))
        let all = reports.last!
        #expect(all.maxDrawdown == -0.1)
        #expect(F.member(AnalyticsEngine.json(all), "returns", "days") == .number("10"))
    }

    /// No drawdown: Calmar and recovery undefined; no capital: every return-based figure undefined.
    @Test func returnFiguresNeedADrawdownAndACapital() {
        let rising = F.all(F.roundTrip(day: "2024-01-01", pnl: "1") + F.roundTrip(day: "2024-01-02", pnl: "1"),
                           capital: "100", asOf: "2024-01-02T18:00:00+05:30")
        #expect(rising.maxDrawdown == 0)
        #expect(rising.calmar == nil && rising.recoveryFactor == nil)
        #expect(Self.close(rising.annualizedReturn, pow(1.02, 126) - 1))
        let noCapital = F.all(F.roundTrip(day: "2024-01-01", pnl: "1") + F.roundTrip(day: "2024-01-02", pnl: "-3"))
        #expect(noCapital.sharpe == nil && noCapital.maxDrawdown == nil && noCapital.maxDrawdownAmount == nil)
        #expect(noCapital.annualizedReturn == nil && noCapital.calmar == nil && noCapital.recoveryFactor == nil)
    }
}
