import Foundation
import TMCore
import TMRisk

/// Computes one user's analytics in one currency from the whole history of fills: pure, no I/O,
/// deterministic for the same fills and context. The definitions are the README's "Analytics"
/// section (the issue's, the industry's: FIFO with prorated fees, empyrical's Sharpe).
///
/// Guarantees: P&L is exact (eighteen places internally, see `ExactAmount`; the only roundings are
/// a fee's share of a slice, within 10⁻⁹ and summing exactly to the fee, and the final rounding of a
/// figure or an average to nine places); an undefined figure is nil, never infinity or a made-up
/// number; fills after `context.asOfMicros` are ignored (not yet happened).
public struct AnalyticsEngine: Sendable {
    public init() {}

    /// One report for every day, ISO week, month and year holding a fill, and one for all time
    /// (always, even without fills), in that order of periods, each by start day. `detailed` says
    /// which periods' reports get their breakdowns (`details`); the others' are left empty — the
    /// nightly write stores no day's breakdowns (`ReportWriter.storesReport`), so it skips them.
    public func reports(for user: UserFills, context: AnalyticsContext,
                        detailed: (AnalyticsPeriod) -> Bool = { _ in true }) -> [AnalyticsReport] {
        let computation = EngineComputation(user: user, context: context)
        return computation.allReports(detailed: detailed)
    }

    /// The report of the `period` holding `day` (exchange zone; ignored for `.all`); a period without
    /// fills has zero counts and undefined ratios.
    public func report(for user: UserFills, period: AnalyticsPeriod, containing day: AnalyticsDay,
                       context: AnalyticsContext) -> AnalyticsReport {
        let computation = EngineComputation(user: user, context: context)
        return computation.report(period: period, containing: day.daysSinceEpoch)
    }
}

/// The work of one `reports(for:)` call: matching over the user's history in time order, then the
/// per-period sums; the reports are built from them.
final class EngineComputation {
    let user: UserFills
    let context: AnalyticsContext
    let capital: Int128?  // eighteen places

    private(set) var books: [InstrumentBook] = []
    private(set) var symbolNames: [String] = []
    /// Per kind (day, week, month, year): the periods holding a fill, in order of first fill.
    private(set) var periods: [[PeriodStats]] = [[], [], [], []]
    private var periodIndex: [[Int: Int]] = [[:], [:], [:], [:]]
    private(set) var allTime = PeriodStats(period: .all, start: Int(Int32.min), end: Int(Int32.max))

    /// Dense daily series from `firstDay` to `lastDay` (inclusive): realized P&L (eighteen places)
    /// and fills of each local day.
    private(set) var firstDay = 0
    private(set) var lastDay = -1
    private var dailyRealized: [Int128] = []
    private var dailyFills: [Int32] = []
    /// `realizedBefore[i]` = Σ dailyRealized[0..<i].
    private var realizedBefore: [Int128] = []
    private(set) var evaluationDay = 0
    private(set) var unrealized: Int128 = 0
    /// Fees of the fills behind still-open lots not yet charged to a slice (nine places).
    private(set) var openLotFees: Int128 = 0

    static let kinds: [AnalyticsPeriod] = [.day, .week, .month, .year]
    static let holdingSwingLimitMicros: Int64 = 30 * 86_400 * 1_000_000

    init(user: UserFills, context: AnalyticsContext) {
        self.user = user
        self.context = context
        capital = user.capital.map { ExactAmount.wide($0.units) }
        run()
    }

    // MARK: Matching and sums

    /// Fill indexes up to the evaluation instant, by time, then broker trade id.
    private func matchingOrder() -> [Int32] {
        let fills = user.fills
        var keys: [(Int64, Int32)] = []
        keys.reserveCapacity(fills.count)
        var sorted = true
        var previous = Int64.min
        for i in fills.indices {
            let t = fills[i].timeMicros
            guard t <= context.asOfMicros else { continue }
            if t < previous { sorted = false }
            previous = t
            keys.append((t, Int32(i)))
        }
        if !sorted { keys.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) } }
        var order = keys.map(\.1)
        // Ties at the same microsecond: by broker trade id.
        var runStart = 0
        while runStart < keys.count {
            var runEnd = runStart + 1
            while runEnd < keys.count, keys[runEnd].0 == keys[runStart].0 { runEnd += 1 }
            if runEnd - runStart > 1 {
                order[runStart..<runEnd].sort { Self.tradeIDPrecedes(fills[Int($0)].brokerTradeID, fills[Int($1)].brokerTradeID) }
            }
            runStart = runEnd
        }
        return order
    }

    /// Broker trade ids in order: numerically when both are all digits (so "9" precedes "10"),
    /// else by their UTF-8 bytes.
    static func tradeIDPrecedes(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        let digits = { (bytes: [UInt8]) in !bytes.isEmpty && bytes.allSatisfy { $0 >= 48 && $0 <= 57 } }
        if digits(x), digits(y) {
            let xs = x.drop { $0 == 48 }, ys = y.drop { $0 == 48 }
            if xs.count != ys.count { return xs.count < ys.count }
            return xs.lexicographicallyPrecedes(ys)
        }
        return x.lexicographicallyPrecedes(y)
    }

    private func run() {
        let order = matchingOrder()
        let fills = user.fills
        // The hot loop works on locals (no exclusivity checks on the class's properties); they are
        // stored when it ends.
        var books: [InstrumentBook] = [], symbolNames: [String] = [], allTime = self.allTime
        var periods = self.periods, periodIndex = self.periodIndex
        var fees = FeeLedger(capacity: fills.count)
        var instrumentIndex: [InstrumentKey: Int] = [:]
        var symbolIndex: [String: Int32] = [:]
        var zoneIndex: [String: Int32] = [:]
        var cursors: [ZoneCursor] = []
        var exchangeFills: [String: Int] = [:]

        // Per fill in matching order: its local day and realized P&L, for the daily series.
        var fillDays: [Int32] = []
        fillDays.reserveCapacity(order.count)
        var closingDays: [(day: Int32, net: Int128)] = []

        var current = [Int](repeating: -1, count: 4)
        var currentStart = [Int](repeating: 0, count: 4)
        var currentEnd = [Int](repeating: 0, count: 4)
        var monthOfDay = (day: Int.min, month: 0)

        for position in order {
            let fill = fills[Int(position)]
            let key = InstrumentKey(symbol: fill.symbol, exchange: fill.exchange)
            let b: Int
            if let known = instrumentIndex[key] {
                b = known
            } else {
                let symbol: Int32
                if let s = symbolIndex[fill.symbol] { symbol = s } else {
                    symbol = Int32(symbolNames.count)
                    symbolNames.append(fill.symbol)
                    symbolIndex[fill.symbol] = symbol
                }
                let zoneID = ExchangeZones.zoneIdentifier(forExchange: fill.exchange)
                let zone: Int32
                if let z = zoneIndex[zoneID] { zone = z } else {
                    zone = Int32(cursors.count)
                    cursors.append(ZoneCursor(ZoneOffsets.named(zoneID)))
                    zoneIndex[zoneID] = zone
                }
                b = books.count
                books.append(InstrumentBook(key: InstrumentKeyIndex(symbol: symbol, zone: zone, exchange: fill.exchange, symbolName: fill.symbol)))
                instrumentIndex[key] = b
            }
            let symbol = books[b].key.symbol
            // Local wall clock in the exchange's zone.
            let seconds = fill.timeMicros >= 0 ? fill.timeMicros / 1_000_000 : (fill.timeMicros - 999_999) / 1_000_000
            let local = cursors[Int(books[b].key.zone)].local(seconds)
            let day = Int(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400)
            let secondOfDay = Int(local - Int64(day) * 86_400)

            let ledgerIndex = fees.append(quantity: fill.quantity.units, fee: fill.fee.units)
            let closed = books[b].apply(fill: ledgerIndex, buy: fill.side == .buy, quantity: fill.quantity.units,
                                        price: fill.price.units, micros: fill.timeMicros, day: Int32(day), fees: &fees)
            fillDays.append(Int32(day))

            // The periods holding the fill.
            for k in 0..<4 where day < currentStart[k] || day >= currentEnd[k] {
                let range = CivilCalendar.range(of: Self.kinds[k], containing: day)
                if let i = periodIndex[k][range.start] { current[k] = i } else {
                    current[k] = periods[k].count
                    periodIndex[k][range.start] = current[k]
                    periods[k].append(PeriodStats(period: Self.kinds[k], start: range.start, end: range.end))
                }
                currentStart[k] = range.start
                currentEnd[k] = range.end
            }
            let fee = fill.fee.units
            for k in 0..<4 { periods[k][current[k]].addFill(symbol: symbol, fee: fee) }
            allTime.addFill(symbol: symbol, fee: fee)

            guard closed.quantity > 0 else { continue }
            let category: Int
            let holding = fill.timeMicros - closed.oldestOpenMicros
            if let own = fill.category {
                category = own == .intraday ? 0 : own == .swing ? 1 : 2
            } else if Int(closed.oldestOpenDay) == day {
                category = 0
            } else if holding <= Self.holdingSwingLimitMicros {
                category = 1
            } else {
                category = 2
            }
            if monthOfDay.day != day { monthOfDay = (day, CivilCalendar.civil(day).month) }
            let hour = secondOfDay / 3600, weekday = CivilCalendar.isoWeekday(day)
            for k in 0..<4 {
                periods[k][current[k]].addClosing(symbol: symbol, net: closed.net, gross: closed.gross, category: category,
                                                  holdingMicros: holding, hour: hour, weekday: weekday, month: monthOfDay.month)
            }
            allTime.addClosing(symbol: symbol, net: closed.net, gross: closed.gross, category: category,
                               holdingMicros: holding, hour: hour, weekday: weekday, month: monthOfDay.month)
            closingDays.append((Int32(day), closed.net))
        }

        self.books = books
        self.symbolNames = symbolNames
        self.allTime = allTime
        self.periods = periods
        self.periodIndex = periodIndex

        // Open lots at the latest price (else the last fill's), no fees.
        for book in books {
            exchangeFills[book.key.exchange, default: 0] += book.fills
            guard !book.isFlat else { continue }
            let key = InstrumentKey(symbol: book.key.symbolName, exchange: book.key.exchange)
            let mark = context.latestPrices[key]?.units ?? book.lastPrice
            for lot in book.openLots {
                let move = book.long ? mark - lot.price : lot.price - mark
                unrealized = ExactAmount.sum(unrealized, ExactAmount.product(move, lot.remaining))
                openLotFees += fees.uncharged(lot.fill)
            }
        }

        // The evaluation day: the instant's date in the zone of the user's main exchange (most
        // fills; ties alphabetical), never before the last fill's day.
        let primary = ExchangeZones.mainExchange(fillsPerExchange: exchangeFills)
        evaluationDay = ExchangeZones.localDay(micros: context.asOfMicros, exchange: primary ?? "UTC").daysSinceEpoch

        guard let minDay = fillDays.min(), let maxDay = fillDays.max() else { return }
        firstDay = Int(minDay)
        lastDay = max(Int(maxDay), evaluationDay)
        evaluationDay = lastDay
        let span = lastDay - firstDay + 1
        dailyRealized = [Int128](repeating: 0, count: span)
        dailyFills = [Int32](repeating: 0, count: span)
        for d in fillDays { dailyFills[Int(d) - firstDay] += 1 }
        for c in closingDays { dailyRealized[Int(c.day) - firstDay] = ExactAmount.sum(dailyRealized[Int(c.day) - firstDay], c.net) }
        realizedBefore = [Int128](repeating: 0, count: span + 1)
        for i in 0..<span { realizedBefore[i + 1] = ExactAmount.sum(realizedBefore[i], dailyRealized[i]) }
    }

    // MARK: Reports

    func allReports(detailed: (AnalyticsPeriod) -> Bool = { _ in true }) -> [AnalyticsReport] {
        var reports: [AnalyticsReport] = []
        reports.reserveCapacity(periods.reduce(1) { $0 + $1.count })
        for k in 0..<4 {
            // Periods are created in time order; several zones can interleave them by a day.
            let details = detailed(Self.kinds[k])
            if periods[k].indices.dropFirst().allSatisfy({ periods[k][$0 - 1].start < periods[k][$0].start }) {
                for stats in periods[k] { reports.append(makeReport(stats, detailed: details)) }
            } else {
                for stats in periods[k].sorted(by: { $0.start < $1.start }) { reports.append(makeReport(stats, detailed: details)) }
            }
        }
        reports.append(makeReport(allTime, detailed: detailed(.all)))
        return reports
    }

    func report(period: AnalyticsPeriod, containing day: Int) -> AnalyticsReport {
        guard period != .all, let k = Self.kinds.firstIndex(of: period) else { return makeReport(allTime) }
        let range = CivilCalendar.range(of: period, containing: day)
        if let i = periodIndex[k][range.start] { return makeReport(periods[k][i]) }
        return makeReport(PeriodStats(period: period, start: range.start, end: range.end))
    }

    /// Daily returns, drawdown and annualised return over the period's weekdays.
    struct ReturnFigures {
        var returns: [Double] = []
        var firstDay: Int?
        var lastDay: Int?
        var drawdown: Drawdown?
        var annualized: Double?
    }

    func returnFigures(from start: Int, through end: Int) -> ReturnFigures {
        var figures = ReturnFigures()
        guard let capital, lastDay >= firstDay else { return figures }
        let a = max(start, firstDay), b = min(end, evaluationDay)
        guard a <= b else { return figures }
        figures.firstDay = a
        figures.lastDay = b
        let baseline = ExactAmount.sum(capital, realizedBefore[a - firstDay])
        let points = ReturnSeries.weekdayPoints(daily: dailyRealized[(a - firstDay)...(b - firstDay)], firstDay: a)
        guard !points.isEmpty else { return figures }
        let capitalDouble = ExactAmount.toDouble(capital)
        figures.returns = points.map { ExactAmount.toDouble($0) / capitalDouble }
        figures.drawdown = ReturnSeries.drawdown(baseline: baseline, changes: points)
        figures.annualized = ReturnSeries.annualizedReturn(baseline: baseline, end: figures.drawdown!.finalEquity, days: points.count)
        return figures
    }

    func makeReport(_ stats: PeriodStats, detailed: Bool = true) -> AnalyticsReport {
        var report = AnalyticsReport(userID: user.userID, currency: user.currency, period: stats.period,
                                     periodStart: stats.period == .all ? "1970-01-01" : CivilCalendar.text(stats.start))
        report.realizedPnL = ExactAmount.fixed(stats.realized)
        report.fees = FixedDecimal(units: stats.fees)
        var net = ExactAmount.sum(stats.grossRealized, -ExactAmount.wide(stats.fees))
        if stats.period == .all {
            report.unrealizedPnL = ExactAmount.fixed(unrealized)
            report.totalPnL = ExactAmount.fixed(ExactAmount.sum(stats.realized, unrealized))
            net = ExactAmount.sum(net, unrealized)
        }
        report.netPnL = ExactAmount.fixed(net)
        report.grossProfit = ExactAmount.fixed(stats.grossProfit)
        report.grossLoss = ExactAmount.fixed(stats.grossLoss)
        report.closingFills = stats.closing
        report.wins = stats.wins
        report.losses = stats.losses
        report.breakEvens = stats.breakEvens
        report.winRate = Self.winRate(wins: stats.wins, losses: stats.losses)
        report.averageWin = ExactAmount.average(stats.grossProfit, over: stats.wins)
        report.averageLoss = ExactAmount.average(stats.grossLoss, over: stats.losses)
        report.largestWin = stats.wins > 0 ? ExactAmount.fixed(stats.largestWin) : nil
        report.largestLoss = stats.losses > 0 ? ExactAmount.fixed(stats.largestLoss) : nil
        report.expectancy = ExactAmount.average(stats.realized, over: stats.closing)
        // Undefined without losses: never infinity, never a made-up number.
        report.profitFactor = stats.losses > 0 ? ExactAmount.toDouble(stats.grossProfit) / ExactAmount.toDouble(0 - stats.grossLoss) : nil
        report.maxConsecutiveWins = stats.longestWinRun
        report.maxConsecutiveLosses = stats.longestLossRun

        let figures = stats.period == .all ? returnFigures(from: firstDay, through: evaluationDay)
                                           : returnFigures(from: stats.start, through: stats.end - 1)
        report.sharpe = ReturnSeries.sharpe(figures.returns, riskFreeDaily: ReturnSeries.dailyRate(annual: context.riskFreeAnnual))
        if let drawdown = figures.drawdown {
            report.maxDrawdown = drawdown.fraction
            report.maxDrawdownAmount = ExactAmount.fixed(drawdown.amount)
            report.annualizedReturn = figures.annualized
            if drawdown.fraction < 0, let annual = figures.annualized { report.calmar = annual / -drawdown.fraction }
            if drawdown.amount < 0 { report.recoveryFactor = ExactAmount.toDouble(net) / ExactAmount.toDouble(0 - drawdown.amount) }
        }

        report.fillsCount = stats.fills
        report.tradingDays = tradingDays(from: stats.start, before: stats.end)
        report.averageTradesPerDay = report.tradingDays > 0 ? Double(stats.fills) / Double(report.tradingDays) : nil
        report.symbolsTraded = stats.symbols.count
        var most: (fills: Int, name: String)?
        for entry in stats.symbols.entries {
            let s = entry.stats, name = symbolNames[Int(entry.symbol)]
            if let m = most, m.fills > s.fills || (m.fills == s.fills && m.name <= name) { continue }
            most = (s.fills, name)
        }
        report.mostTradedSymbol = most?.name
        if detailed { report.details = breakdowns(stats, figures: figures) }
        return report
    }

    static func winRate(wins: Int, losses: Int) -> Double? {
        wins + losses > 0 ? Double(wins) / Double(wins + losses) : nil
    }

    private func tradingDays(from start: Int, before end: Int) -> Int {
        guard lastDay >= firstDay else { return 0 }
        let a = max(start, firstDay), b = min(end - 1, lastDay)
        guard a <= b else { return 0 }
        var count = 0
        for i in (a - firstDay)...(b - firstDay) where dailyFills[i] > 0 { count += 1 }
        return count
    }

    // MARK: Breakdowns (the report JSON beyond the headline columns)

    private func breakdowns(_ stats: PeriodStats, figures: ReturnFigures) -> AnalyticsBreakdowns {
        var details = AnalyticsBreakdowns()
        details.grossRealizedPnL = ExactAmount.fixed(stats.grossRealized)
        if stats.period == .all { details.openLotFees = FixedDecimal(units: openLotFees) }
        for i in 0..<3 where stats.categories[i].closing > 0 {
            let c = stats.categories[i]
            let mean = c.holdingMicros / Double(c.closing)
            details.categories[i] = AnalyticsBreakdowns.Category()
            details.categories[i].realizedPnL = ExactAmount.fixed(c.pnl)
            details.categories[i].closingFills = c.closing
            details.categories[i].wins = c.wins
            details.categories[i].losses = c.losses
            details.categories[i].winRate = Self.winRate(wins: c.wins, losses: c.losses)
            // Minutes for intraday, days otherwise.
            details.categories[i].averageHolding = i == 0 ? mean / 60e6 : mean / 86_400e6
        }
        // Top: the five highest P&Ls above zero; worst: the five lowest below zero; ties alphabetical.
        var top: [(name: String, stats: SymbolStats)] = [], worst = top
        for entry in stats.symbols.entries where entry.stats.closing > 0 && entry.stats.pnl != 0 {
            let item = (name: symbolNames[Int(entry.symbol)], stats: entry.stats)
            if item.stats.pnl > 0 { top.append(item) } else { worst.append(item) }
        }
        func symbolFigures(_ s: (name: String, stats: SymbolStats)) -> AnalyticsBreakdowns.Symbol {
            AnalyticsBreakdowns.Symbol(symbol: s.name, realizedPnL: ExactAmount.fixed(s.stats.pnl), trades: s.stats.closing,
                                       fills: s.stats.fills, winRate: Self.winRate(wins: s.stats.wins, losses: s.stats.losses))
        }
        if !top.isEmpty {
            top.sort { $0.stats.pnl > $1.stats.pnl || ($0.stats.pnl == $1.stats.pnl && $0.name < $1.name) }
            details.topSymbols = top.prefix(5).map(symbolFigures)
        }
        if !worst.isEmpty {
            worst.sort { $0.stats.pnl < $1.stats.pnl || ($0.stats.pnl == $1.stats.pnl && $0.name < $1.name) }
            details.worstSymbols = worst.prefix(5).map(symbolFigures)
        }
        func buckets(_ range: Range<Int>, firstKey: Int) -> [AnalyticsBreakdowns.Bucket] {
            var out: [AnalyticsBreakdowns.Bucket] = []
            guard !stats.buckets.isEmpty else { return out }
            for i in range where stats.buckets[i] != 0 {
                out.append(.init(key: i - range.lowerBound + firstKey, pnl: ExactAmount.fixed(stats.buckets[i])))
            }
            return out
        }
        details.pnlByHour = buckets(0..<24, firstKey: 0)
        details.pnlByWeekday = buckets(PeriodStats.weekdayBase..<PeriodStats.weekdayBase + 7, firstKey: 0)
        details.pnlByMonth = buckets(PeriodStats.monthBase + 1..<PeriodStats.monthBase + 13, firstKey: 1)
        details.returnDays = figures.returns.count
        details.firstReturnDay = figures.firstDay.map(CivilCalendar.text)
        details.lastReturnDay = figures.lastDay.map(CivilCalendar.text)
        details.riskFreeDaily = ReturnSeries.dailyRate(annual: context.riskFreeAnnual)
        return details
    }
}
