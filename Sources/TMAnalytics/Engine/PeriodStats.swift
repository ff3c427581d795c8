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

/// Per-symbol sums of one period: a short list searched linearly (a day holds a few symbols), indexed
/// by a dictionary once it holds more than 16.
struct SymbolTable {
    struct Entry {
        let symbol: Int32
        var stats = SymbolStats()
    }
    var entries: [Entry] = []
    private var index: [Int32: Int]?

    var count: Int { entries.count }

    @inline(__always) mutating func slot(_ symbol: Int32) -> Int {
        if let index {
            if let i = index[symbol] { return i }
        } else {
            var i = entries.count - 1
            while i >= 0 {
                if entries[i].symbol == symbol { return i }
                i -= 1
            }
        }
        entries.append(Entry(symbol: symbol))
        if index != nil {
            index![symbol] = entries.count - 1
        } else if entries.count > 16 {
            index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.symbol, $0) })
        }
        return entries.count - 1
    }
}

/// The three categories' sums, inline (no allocation a period).
struct CategoryTriple {
    var intraday = CategoryStats(), swing = CategoryStats(), longTerm = CategoryStats()

    subscript(_ i: Int) -> CategoryStats {
        get { i == 0 ? intraday : i == 1 ? swing : longTerm }
        set {
            switch i {
            case 0: intraday = newValue
            case 1: swing = newValue
            default: longTerm = newValue
            }
        }
    }
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
    var categories = CategoryTriple()
    var symbols = SymbolTable()
    /// Realized P&L by local hour (0–23), then ISO weekday (24–30), then month of the year (31–42),
    /// in one array (one allocation); empty until a close.
    var buckets: [Int128] = []
    static let weekdayBase = 24, monthBase = 31 - 1

    init(period: AnalyticsPeriod, start: Int, end: Int) {
        self.period = period
        self.start = start
        self.end = end
    }

    @inline(__always) mutating func addFill(symbol: Int32, fee: Int128) {
        fills += 1
        fees += fee
        symbols.entries[symbols.slot(symbol)].stats.fills += 1
    }

    /// A closing fill (its fill was added with `addFill` first).
    @inline(__always)
    mutating func addClosing(symbol: Int32, net: Int128, gross: Int128, category: Int, holdingMicros: Int64,
                             hour: Int, weekday: Int, month: Int) {
        closing += 1
        realized = ExactAmount.sum(realized, net)
        grossRealized = ExactAmount.sum(grossRealized, gross)
        var c = categories[category]
        c.pnl = ExactAmount.sum(c.pnl, net)
        c.closing += 1
        c.holdingMicros += Double(holdingMicros)
        if net > 0 { c.wins += 1 } else if net < 0 { c.losses += 1 }
        categories[category] = c
        if buckets.isEmpty { buckets = [Int128](repeating: 0, count: 43) }
        buckets[hour] = ExactAmount.sum(buckets[hour], net)
        buckets[Self.weekdayBase + weekday] = ExactAmount.sum(buckets[Self.weekdayBase + weekday], net)
        buckets[Self.monthBase + month] = ExactAmount.sum(buckets[Self.monthBase + month], net)
        let slot = symbols.slot(symbol)
        var s = symbols.entries[slot].stats
        s.closing += 1
        s.pnl = ExactAmount.sum(s.pnl, net)
        if net > 0 {
            wins += 1
            s.wins += 1
            grossProfit = ExactAmount.sum(grossProfit, net)
            if net > largestWin { largestWin = net }
            winRun += 1
            lossRun = 0
            if winRun > longestWinRun { longestWinRun = winRun }
        } else if net < 0 {
            losses += 1
            s.losses += 1
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
        symbols.entries[slot].stats = s
    }
}
