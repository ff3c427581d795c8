import Foundation
import TMCore

extension AnalyticsEngine {
    /// The report as JSON: what `tm analytics show --json` prints, `analytics:<user>:<period>`
    /// caches and `analytics.report` stores. snake_case keys; exact amounts as decimal strings
    /// (never a binary float); ratios as JSON numbers; undefined figures as null; `win_rate` a
    /// fraction 0…1. The breakdowns' members follow the headline fields. Same document as `jsonText`.
    public static func json(_ report: AnalyticsReport) -> JSONValue {
        // One writer serves both forms: the tree is the parsed text.
        (try? JSONValue.parse(jsonText(report))) ?? .null
    }

    /// `json(report)` as compact text, written straight to UTF-8 without building a tree: the form
    /// a bulk writer stores (microseconds a report).
    public static func jsonText(_ report: AnalyticsReport) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(2048)
        writeJSON(report, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `jsonText(report)`'s UTF-8 to `bytes` (e.g. a COPY buffer).
    public static func writeJSON(_ report: AnalyticsReport, into bytes: inout [UInt8]) {
        var w = AnalyticsReportJSON.Writer()
        swap(&w.bytes, &bytes)  // append in place: no copy of a large buffer
        defer { swap(&w.bytes, &bytes) }
        w.open()
        w.key("user_id"); w.uuid(report.userID)
        w.key("currency"); w.string(report.currency)
        w.key("period"); w.string(report.period.rawValue)
        w.key("period_start"); w.string(report.periodStart)
        w.key("realized_pnl"); w.money(report.realizedPnL)
        w.key("unrealized_pnl"); w.money(report.unrealizedPnL)
        w.key("total_pnl"); w.money(report.totalPnL)
        w.key("fees"); w.money(report.fees)
        w.key("net_pnl"); w.money(report.netPnL)
        w.key("gross_profit"); w.money(report.grossProfit)
        w.key("gross_loss"); w.money(report.grossLoss)
        w.key("closing_fills"); w.int(report.closingFills)
        w.key("wins"); w.int(report.wins)
        w.key("losses"); w.int(report.losses)
        w.key("break_evens"); w.int(report.breakEvens)
        w.key("win_rate"); w.number(report.winRate)
        w.key("average_win"); w.money(report.averageWin)
        w.key("average_loss"); w.money(report.averageLoss)
        w.key("largest_win"); w.money(report.largestWin)
        w.key("largest_loss"); w.money(report.largestLoss)
        w.key("expectancy"); w.money(report.expectancy)
        w.key("profit_factor"); w.number(report.profitFactor)
        w.key("max_consecutive_wins"); w.int(report.maxConsecutiveWins)
        w.key("max_consecutive_losses"); w.int(report.maxConsecutiveLosses)
        w.key("sharpe"); w.number(report.sharpe)
        w.key("max_drawdown"); w.number(report.maxDrawdown)
        w.key("max_drawdown_amount"); w.money(report.maxDrawdownAmount)
        w.key("annualized_return"); w.number(report.annualizedReturn)
        w.key("calmar"); w.number(report.calmar)
        w.key("recovery_factor"); w.number(report.recoveryFactor)
        w.key("fills_count"); w.int(report.fillsCount)
        w.key("trading_days"); w.int(report.tradingDays)
        w.key("average_trades_per_day"); w.number(report.averageTradesPerDay)
        w.key("symbols_traded"); w.int(report.symbolsTraded)
        w.key("most_traded_symbol"); w.string(report.mostTradedSymbol)
        w.breakdownMembers(report.details)
        w.close()
    }
}

/// The report JSON's one writer (UTF-8 bytes, no intermediate tree).
enum AnalyticsReportJSON {
    static let categoryNames: [StaticString] = ["intraday", "swing", "long_term"]
    static let weekdayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    /// "00" … "23": hours, and months "01" … "12".
    static let twoDigits = (0..<24).map { $0 < 10 ? "0\($0)" : "\($0)" }

    /// The breakdowns alone, as a JSON object (`AnalyticsReport.breakdowns`).
    static func breakdowns(_ details: AnalyticsBreakdowns) -> JSONValue {
        var w = Writer()
        w.open()
        w.breakdownMembers(details)
        w.close()
        return (try? JSONValue.parse(w.bytes)) ?? .null
    }

    struct Writer {
        var bytes: [UInt8] = []
        private var first = true

        mutating func open() {
            bytes.append(UInt8(ascii: "{"))
            first = true
        }
        mutating func close() {
            bytes.append(UInt8(ascii: "}"))
            first = false
        }
        mutating func openArray() {
            bytes.append(UInt8(ascii: "["))
            first = true
        }
        mutating func closeArray() {
            bytes.append(UInt8(ascii: "]"))
            first = false
        }
        /// Before an array element.
        mutating func element() {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
        }

        mutating func key(_ name: StaticString) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            bytes.append(UInt8(ascii: "\""))
            bytes.append(UInt8(ascii: ":"))
        }

        mutating func key(text name: String) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            string(name)
            bytes.append(UInt8(ascii: ":"))
        }

        /// A UUID in lowercase canonical form, without Foundation's string building.
        mutating func uuid(_ id: UUID) {
            let hex: StaticString = "0123456789abcdef"
            let digits = UnsafeBufferPointer(start: hex.utf8Start, count: 16)
            bytes.append(UInt8(ascii: "\""))
            withUnsafeBytes(of: id.uuid) { raw in
                for (i, byte) in raw.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 { bytes.append(UInt8(ascii: "-")) }
                    bytes.append(digits[Int(byte >> 4)])
                    bytes.append(digits[Int(byte & 15)])
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func null() { bytes.append(contentsOf: "null".utf8) }

        mutating func string(_ value: String?) {
            guard let value else { return null() }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): bytes.append(contentsOf: "\\\\".utf8)
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: "\\u00".utf8)
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 15)])
                default: bytes.append(byte)
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func int(_ value: Int) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(value.magnitude)
        }

        private mutating func digits(_ value: UInt) {
            if value >= 10 { digits(value / 10) }
            bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
        }

        /// A ratio (shortest round-trip text); nil, NaN and infinity as null.
        mutating func number(_ value: Double?) {
            guard let value, value.isFinite else { return null() }
            if value == 0 { bytes.append(UInt8(ascii: "0")) } else { bytes.append(contentsOf: value.description.utf8) }
        }

        /// An exact amount as a decimal string, as `FixedDecimal.description` prints it.
        mutating func money(_ value: FixedDecimal?) {
            guard let value else { return null() }
            bytes.append(UInt8(ascii: "\""))
            let magnitude = value.units.magnitude
            if value.units < 0 { bytes.append(UInt8(ascii: "-")) }
            let whole = magnitude / 1_000_000_000
            var fraction = UInt(magnitude % 1_000_000_000)
            if let small = UInt(exactly: whole) { digits(small) } else { bytes.append(contentsOf: String(whole).utf8) }
            if fraction != 0 {
                bytes.append(UInt8(ascii: "."))
                var places = 9
                while fraction % 10 == 0 {
                    fraction /= 10
                    places -= 1
                }
                // Most significant digit first, leading zeros included; no temporary buffer.
                var scale: UInt = 1
                for _ in 1..<places { scale *= 10 }
                while scale > 0 {
                    bytes.append(UInt8(ascii: "0") + UInt8(fraction / scale % 10))
                    scale /= 10
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func breakdownMembers(_ d: AnalyticsBreakdowns) {
            key("gross_realized_pnl"); money(d.grossRealizedPnL)
            if let fees = d.openLotFees {
                key("open_lot_fees"); money(fees)
            }
            key("categories"); open()
            for (i, c) in d.categories.enumerated() {
                key(AnalyticsReportJSON.categoryNames[i]); open()
                key("realized_pnl"); money(c.realizedPnL)
                key("closing_fills"); int(c.closingFills)
                key("wins"); int(c.wins)
                key("losses"); int(c.losses)
                key("win_rate"); number(c.winRate)
                key(i == 0 ? "average_holding_minutes" : "average_holding_days"); number(c.averageHolding)
                close()
            }
            close()
            key("top_symbols"); symbols(d.topSymbols)
            key("worst_symbols"); symbols(d.worstSymbols)
            key("pnl_by_hour"); buckets(d.pnlByHour, names: AnalyticsReportJSON.twoDigits)
            key("pnl_by_weekday"); buckets(d.pnlByWeekday, names: AnalyticsReportJSON.weekdayNames)
            key("pnl_by_month"); buckets(d.pnlByMonth, names: AnalyticsReportJSON.twoDigits)
            key("returns"); open()
            key("days"); int(d.returnDays)
            key("first_day"); string(d.firstReturnDay)
            key("last_day"); string(d.lastReturnDay)
            key("risk_free_daily"); number(d.riskFreeDaily)
            close()
        }

        private mutating func symbols(_ list: [AnalyticsBreakdowns.Symbol]) {
            openArray()
            for s in list {
                element()
                open()
                key("symbol"); string(s.symbol)
                key("realized_pnl"); money(s.realizedPnL)
                key("trades"); int(s.trades)
                key("fills"); int(s.fills)
                key("win_rate"); number(s.winRate)
                close()
            }
            closeArray()
        }

        private mutating func buckets(_ list: [AnalyticsBreakdowns.Bucket], names: [String]) {
            open()
            for b in list {
                key(text: names[b.key]); money(b.pnl)
            }
            close()
        }
    }
}
