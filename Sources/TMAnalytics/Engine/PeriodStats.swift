import TMCore

/// One category's closing fills in a period.
struct CategoryStats {
    var pnl: Int128 = 0
    var closing = 0
    var wins = 0
    var losses = 0
    /// Σ holding time (µs) of the closing fills' oldest slices.
    var holdingMicros: Double = 0
}

/// One symbol's fills in a period.
struct SymbolStats {
    var fills = 0
    var closing = 0
    var wins = 0
    var losses = 0
    var pnl: Int128 = 0
}

/// The running sums of one period (a day, ISO week, month, year or all time): everything a report
/// needs except the return series, which comes from the user's daily realized P&L.
struct PeriodStats {
    let period: AnalyticsPeriod
    /// First day (day number, exchange zone) and the first day after.
    let start: Int
    let end: Int

    var fills = 0
    /// Σ fees of the period's fills, nine-place units.
    var fees: Int128 = 0
    var closing = 0
    var wins = 0
    var losses = 0
    var breakEvens = 0
    /// Eighteen places from here on.
    var realized: Int128 = 0
    var grossRealized: Int128 = 0
    var grossProfit: Int128 = 0
    var grossLoss: Int128 = 0
    var largestWin: Int128 = 0
    var largestLoss: Int128 = 0
    var winRun = 0
    var lossRun = 0
    var longestWinRun = 0
    var longestLossRun = 0
    var categories = [CategoryStats](repeating: CategoryStats(), count: 3)
    var symbols: [Int32: SymbolStats] = [:]
    /// Realized P&L by local hour (24), ISO weekday (7), month of the year (12); empty until a close.
    var byHour: [Int128] = []
    var byWeekday: [Int128] = []
    var byMonth: [Int128] = []

    init(period: AnalyticsPeriod, start: Int, end: Int) {
        self.period = period
        self.start = start
        self.end = end
    }

    @inline(__always) mutating func addFill(symbol: Int32, fee: Int128) {
        fills += 1
        fees += fee
        symbols[symbol, default: SymbolStats()].fills += 1
    }

    /// A closing fill (its fill was added with `addFill` first).
    @inline(__always)
    mutating func addClosing(symbol: Int32, net: Int128, gross: Int128, category: Int, holdingMicros: Int64,
                             hour: Int, weekday: Int, month: Int) {
        closing += 1
        realized = ExactAmount.sum(realized, net)
        grossRealized = ExactAmount.sum(grossRealized, gross)
        categories[category].pnl = ExactAmount.sum(categories[category].pnl, net)
        categories[category].closing += 1
        categories[category].holdingMicros += Double(holdingMicros)
        if byHour.isEmpty {
            byHour = [Int128](repeating: 0, count: 24)
            byWeekday = [Int128](repeating: 0, count: 7)
            byMonth = [Int128](repeating: 0, count: 12)
        }
        byHour[hour] = ExactAmount.sum(byHour[hour], net)
        byWeekday[weekday] = ExactAmount.sum(byWeekday[weekday], net)
        byMonth[month - 1] = ExactAmount.sum(byMonth[month - 1], net)
        var s = symbols[symbol, default: SymbolStats()]
        s.closing += 1
        s.pnl = ExactAmount.sum(s.pnl, net)
        if net > 0 {
            wins += 1
            s.wins += 1
            categories[category].wins += 1
            grossProfit = ExactAmount.sum(grossProfit, net)
            if net > largestWin { largestWin = net }
            winRun += 1
            lossRun = 0
            if winRun > longestWinRun { longestWinRun = winRun }
        } else if net < 0 {
            losses += 1
            s.losses += 1
            categories[category].losses += 1
            grossLoss = ExactAmount.sum(grossLoss, net)
            if net < largestLoss { largestLoss = net }
            lossRun += 1
            winRun = 0
            if lossRun > longestLossRun { longestLossRun = lossRun }
        } else {
            // A break-even is neither: it ends both runs.
            breakEvens += 1
            winRun = 0
            lossRun = 0
        }
        symbols[symbol] = s
    }
}
