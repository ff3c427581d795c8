import Foundation
import Testing
import TMCore
@testable import TMAnalytics

/// Categories, zones, periods and the activity figures (README "Analytics"), hand-computed.
@Suite struct EngineCalendarTests {
    typealias F = EngineFixture

    static func categories(_ r: AnalyticsReport) -> JSONValue? { F.member(AnalyticsEngine.json(r), "categories") }

    /// Bought 23:30 UTC (05:00 IST the next day) and sold 09:00 UTC the same IST day: intraday,
    /// though the UTC dates differ; held 570 minutes.
    @Test func sameTradingDayInTheExchangeZoneIsIntraday() {
        let r = F.all([
            F.fill(.buy, "1", at: "100", time: "2024-03-11T23:30:00Z"),
            F.fill(.sell, "1", at: "101", time: "2024-03-12T09:00:00Z"),
        ])
        let c = Self.categories(r)
        #expect(c?["intraday"]?["closing_fills"] == .number("1"))
        #expect(c?["intraday"]?["average_holding_minutes"] == .number("570.0"))
        #expect(c?["intraday"]?["realized_pnl"] == .string("1"))
    }

    /// The oldest slice decides: held 9 days → swing; 30 days exactly → swing; 31 days → long term;
    /// a fill's own category wins over its holding time.
    @Test func holdingTimeOfTheOldestSliceDecidesSwingOrLongTerm() {
        let swing = F.all([
            F.fill(.buy, "1", at: "100", time: "2024-03-01T10:00:00+05:30"),
            F.fill(.buy, "1", at: "100", time: "2024-03-10T09:00:00+05:30"),
            F.fill(.sell, "2", at: "110", time: "2024-03-10T10:00:00+05:30"),
        ])
        #expect(Self.categories(swing)?["swing"]?["closing_fills"] == .number("1"))
        #expect(Self.categories(swing)?["swing"]?["average_holding_days"] == .number("9.0"))
        #expect(Self.categories(swing)?["intraday"]?["closing_fills"] == .number("0"))
        let thirty = F.all([F.fill(.buy, "1", at: "100", time: "2024-03-01T10:00:00+05:30"),
                            F.fill(.sell, "1", at: "90", time: "2024-03-31T10:00:00+05:30")])
        #expect(Self.categories(thirty)?["swing"]?["closing_fills"] == .number("1"))
        #expect(Self.categories(thirty)?["swing"]?["win_rate"] == .number("0"))
        let long = F.all([F.fill(.buy, "1", at: "100", time: "2024-03-01T10:00:00+05:30"),
                          F.fill(.sell, "1", at: "90", time: "2024-04-01T10:00:00+05:30")])
        #expect(Self.categories(long)?["long_term"]?["closing_fills"] == .number("1"))
        let own = F.all([F.fill(.buy, "1", at: "100", time: "2024-03-01T10:00:00+05:30"),
                         F.fill(.sell, "1", at: "90", time: "2024-04-01T10:00:00+05:30", category: .intraday)])
        #expect(Self.categories(own)?["intraday"]?["closing_fills"] == .number("1"))
        #expect(Self.categories(own)?["long_term"]?["closing_fills"] == .number("0"))
    }

    /// New York switched to EDT at 2024-03-10 07:00 UTC: 13:30 UTC on Monday 11 March is 09:30
    /// local (EST would say 08:30); 03:30 UTC on the 12th is 23:30 on Monday the 11th.
    @Test func aFillJustAfterTheDSTSwitchLandsOnItsLocalHourAndDay() {
        let reports = AnalyticsEngine().reports(for: F.user([
            F.fill(.buy, "1", "AAPL", at: "100", time: "2024-03-11T13:00:00Z", exchange: "NASDAQ"),
            F.fill(.sell, "1", "AAPL", at: "103", time: "2024-03-11T13:30:00Z", exchange: "NASDAQ"),
            F.fill(.buy, "1", "AAPL", at: "100", time: "2024-03-12T03:00:00Z", exchange: "NASDAQ"),
            F.fill(.sell, "1", "AAPL", at: "102", time: "2024-03-12T03:30:00Z", exchange: "NASDAQ"),
        ], currency: "USD"), context: F.context(asOf: "2024-03-13T00:00:00Z"))
        let days = reports.filter { $0.period == .day }
        #expect(days.map(\.periodStart) == ["2024-03-11"])
        let byHour = F.member(AnalyticsEngine.json(days[0]), "pnl_by_hour")
        #expect(byHour == .object([("09", .string("3")), ("23", .string("2"))]))
        // And in November (EST again, −5): 04:30 UTC on the 5th is 23:30 on Monday the 4th.
        let fall = AnalyticsEngine().reports(for: F.user([
            F.fill(.buy, "1", "AAPL", at: "100", time: "2024-11-05T04:00:00Z", exchange: "NYSE"),
            F.fill(.sell, "1", "AAPL", at: "101", time: "2024-11-05T04:30:00Z", exchange: "NYSE"),
        ], currency: "USD"), context: F.context(asOf: "2024-11-06T00:00:00Z"))
        #expect(fall.filter { $0.period == .day }.map(\.periodStart) == ["2024-11-04"])
        #expect(F.member(AnalyticsEngine.json(fall.last!), "pnl_by_hour") == .object([("23", .string("1"))]))
    }

    @Test func exchangesMapToTheirZones() {
        #expect(ExchangeZones.zoneIdentifier(forExchange: "NSE") == "Asia/Kolkata")
        #expect(ExchangeZones.zoneIdentifier(forExchange: "mcx") == "Asia/Kolkata")
        #expect(ExchangeZones.zoneIdentifier(forExchange: "NASDAQ") == "America/New_York")
        #expect(ExchangeZones.zoneIdentifier(forExchange: "BINANCE") == "UTC")
        #expect(ExchangeZones.zoneIdentifier(forExchange: "SOMEWHERE") == "UTC")
    }

    /// Fills on Mon 2024-01-29 and Thu 2024-02-01: two days, one ISO week (Mon 29 Jan), two months,
    /// one year, and all time.
    @Test func everyPeriodHoldingAFillHasAReport() {
        let reports = AnalyticsEngine().reports(for: F.user(
            F.roundTrip(day: "2024-01-29", pnl: "5") + F.roundTrip(day: "2024-02-01", pnl: "-2")
        ), context: F.context(asOf: "2024-02-02T00:00:00Z"))
        #expect(reports.map { "\($0.period.rawValue) \($0.periodStart)" } == [
            "day 2024-01-29", "day 2024-02-01", "week 2024-01-29", "month 2024-01-01", "month 2024-02-01",
            "year 2024-01-01", "all 1970-01-01",
        ])
        let week = reports[2]
        #expect(week.realizedPnL == F.d("3") && week.closingFills == 2 && week.fillsCount == 4)
        #expect(reports[4].realizedPnL == F.d("-2"))
        #expect(AnalyticsDay("2024-02-01")!.weekday == 3)
    }

    /// A period without fills: zero counts, undefined ratios.
    @Test func aPeriodWithNoFillsHasZeroCountsAndUndefinedRatios() {
        let user = F.user(F.roundTrip(day: "2024-01-29", pnl: "5") + F.roundTrip(day: "2024-02-12", pnl: "-2"), capital: "1000")
        let r = AnalyticsEngine().report(for: user, period: .week, containing: AnalyticsDay("2024-02-07")!,
                                         context: F.context(asOf: "2024-02-13T00:00:00Z"))
        #expect(r.periodStart == "2024-02-05")
        #expect(r.closingFills == 0 && r.fillsCount == 0 && r.tradingDays == 0 && r.wins == 0)
        #expect(r.realizedPnL == .zero && r.fees == .zero)
        #expect(r.winRate == nil && r.profitFactor == nil && r.expectancy == nil && r.sharpe == nil)
        #expect(r.calmar == nil && r.recoveryFactor == nil && r.averageTradesPerDay == nil && r.mostTradedSymbol == nil)
        #expect(r.maxDrawdown == 0)
        // Before the first fill: no returns at all.
        let before = AnalyticsEngine().report(for: user, period: .month, containing: AnalyticsDay("2023-12-07")!,
                                              context: F.context(asOf: "2024-02-13T00:00:00Z"))
        #expect(before.maxDrawdown == nil && before.annualizedReturn == nil && before.closingFills == 0)
    }

    /// Fills, trading days, trades per day, symbols, most traded (ties alphabetical), top and worst
    /// symbols, P&L by hour, weekday and month.
    @Test func activityFiguresAndBreakdowns() {
        let fills = F.roundTrip(day: "2024-01-29", pnl: "5", symbol: "TCS") + F.roundTrip(day: "2024-01-29", pnl: "-2", symbol: "INFY")
            + F.roundTrip(day: "2024-02-01", pnl: "7", symbol: "INFY") + [F.fill(.buy, "1", "WIPRO", at: "10", time: "2024-02-01T15:00:00+05:30")]
        let r = F.all(fills)
        #expect(r.fillsCount == 7 && r.tradingDays == 2 && r.averageTradesPerDay == 3.5 && r.symbolsTraded == 3)
        #expect(r.mostTradedSymbol == "INFY")
        let json = AnalyticsEngine.json(r)
        #expect(F.member(json, "top_symbols") == .array([
            .object([("symbol", .string("INFY")), ("realized_pnl", .string("5")), ("trades", .number("2")), ("fills", .number("4")), ("win_rate", .number("0.5"))]),
            .object([("symbol", .string("TCS")), ("realized_pnl", .string("5")), ("trades", .number("1")), ("fills", .number("2")), ("win_rate", .number("1.0"))]),
        ]))
        #expect(F.member(json, "worst_symbols") == .array([]))
        #expect(F.member(json, "pnl_by_hour") == .object([("11", .string("10"))]))
        #expect(F.member(json, "pnl_by_weekday") == .object([("mon", .string("3")), ("thu", .string("7"))]))
        #expect(F.member(json, "pnl_by_month") == .object([("01", .string("3")), ("02", .string("7"))]))
        // Ties by fills: alphabetical.
        let tie = F.all(F.roundTrip(day: "2024-01-29", pnl: "1", symbol: "TCS") + F.roundTrip(day: "2024-01-29", pnl: "1", symbol: "HDFC"))
        #expect(tie.mostTradedSymbol == "HDFC")
    }

    @Test func daysPrintAndParse() {
        #expect(AnalyticsDay("2024-02-29")?.description == "2024-02-29")
        #expect(AnalyticsDay("2023-02-29") == nil)
        #expect(AnalyticsDay(daysSinceEpoch: 0).description == "1970-01-01")
        #expect(AnalyticsDay(daysSinceEpoch: -1).description == "1969-12-31")
        #expect(CivilCalendar.range(of: .month, containing: AnalyticsDay("2024-02-10")!.daysSinceEpoch).end == AnalyticsDay("2024-03-01")!.daysSinceEpoch)
    }
}
