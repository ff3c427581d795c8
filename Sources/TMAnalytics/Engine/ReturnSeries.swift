import Foundation

/// The largest fall of an equity curve from its running peak.
struct Drawdown: Equatable {
    /// min((E − running max) / running max), ≤ 0; −1 at worst (equity wiped out).
    var fraction: Double
    /// min(E − running max) in money, eighteen places, ≤ 0: the largest fall in money (it may be
    /// at another point than the largest fall as a fraction).
    var amount: Int128
    /// The curve's last equity.
    var finalEquity: Int128
}

/// The return-based figures, on plain arrays so the empyrical vectors test them directly.
enum ReturnSeries {
    /// The daily risk-free rate `(1 + annual)^(1/252) − 1`.
    static func dailyRate(annual: Double) -> Double { pow(1 + annual, 1.0 / 252) - 1 }

    /// empyrical's Sharpe ratio of daily returns: mean(r − rf) / std(r − rf, ddof 1) × √252; nil
    /// with fewer than two returns or zero deviation (all excess returns equal).
    static func sharpe(_ returns: [Double], riskFreeDaily: Double) -> Double? {
        guard returns.count >= 2 else { return nil }
        let excess = returns.map { $0 - riskFreeDaily }
        guard excess.contains(where: { $0 != excess[0] }) else { return nil }
        let n = Double(excess.count)
        let mean = excess.reduce(0, +) / n
        let variance = excess.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)  // ddof 1: the sample deviation
        let deviation = variance.squareRoot()
        guard deviation > 0, deviation.isFinite else { return nil }
        let ratio = mean / deviation * Double(252).squareRoot()
        return ratio.isFinite ? ratio : nil
    }

    /// Maximum drawdown of the equity `baseline + cumulative changes`, the baseline (the capital,
    /// plus the realized P&L before the period) being the first peak.
    static func drawdown(baseline: Int128, changes: [Int128]) -> Drawdown {
        var equity = baseline, peak = baseline
        var worst = Drawdown(fraction: 0, amount: 0, finalEquity: baseline)
        for change in changes {
            equity = ExactAmount.sum(equity, change)
            if equity > peak {
                peak = equity
                continue
            }
            let fall = equity - peak
            if fall < worst.amount { worst.amount = fall }
            let fraction = peak > 0 ? max(-1, ExactAmount.toDouble(fall) / ExactAmount.toDouble(peak)) : -1
            if fraction < worst.fraction { worst.fraction = fraction }
        }
        worst.finalEquity = equity
        return worst
    }

    /// Geometric annualised return over `days` weekdays: (end / baseline)^(252 / days) − 1; nil
    /// when the baseline or the end equity is not positive, or there are no days.
    static func annualizedReturn(baseline: Int128, end: Int128, days: Int) -> Double? {
        guard days > 0, baseline > 0, end > 0 else { return nil }
        let growth = ExactAmount.toDouble(end) / ExactAmount.toDouble(baseline)
        let annual = pow(growth, 252 / Double(days)) - 1
        return annual.isFinite ? annual : nil
    }

    /// One realized P&L per weekday (Mon–Fri) of `daily` (consecutive days from `firstDay`); a
    /// weekend day's P&L (crypto) counts in the weekday before it in the range, or the first weekday
    /// after it when none is before, so the returns add up to the realized P&L of the range (a range
    /// without a weekday has no returns).
    static func weekdayPoints(daily: ArraySlice<Int128>, firstDay: Int) -> [Int128] {
        var points: [Int128] = []
        points.reserveCapacity(daily.count * 5 / 7 + 2)
        var leading: Int128 = 0
        var day = firstDay
        for amount in daily {
            if CivilCalendar.isoWeekday(day) < 5 {
                points.append(ExactAmount.sum(amount, leading))
                leading = 0
            } else if points.isEmpty {
                leading = ExactAmount.sum(leading, amount)
            } else {
                points[points.count - 1] = ExactAmount.sum(points[points.count - 1], amount)
            }
            day += 1
        }
        return points
    }
}
