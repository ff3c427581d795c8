import Foundation
import TMCore
@testable import TMAnalytics

/// Builders for the engine's hand-computed fixtures.
enum EngineFixture {
    static let user = UUID(uuidString: "00000000-0000-0000-0000-0000000000e1")!

    /// µs since the epoch of an ISO 8601 instant with its offset, e.g. "2024-03-11T10:00:00+05:30".
    static func micros(_ text: String) -> Int64 {
        let parser = ISO8601DateFormatter()
        guard let date = parser.date(from: text) else { fatalError("bad instant \(text)") }
        return Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func d(_ text: String) -> FixedDecimal { FixedDecimal(text)! }

    static func fill(_ side: AnalyticsFill.Side, _ quantity: String, _ symbol: String = "INFY", at price: String, fee: String = "0",
                     time: String, exchange: String = "NSE", id: String? = nil, category: AnalyticsFill.Category? = nil) -> AnalyticsFill {
        AnalyticsFill(symbol: symbol, exchange: exchange, side: side, quantity: d(quantity), price: d(price), fee: d(fee),
                      timeMicros: micros(time), brokerTradeID: id ?? "\(symbol)-\(time)-\(side)", category: category)
    }

    static func user(_ fills: [AnalyticsFill], capital: String? = nil, currency: String = "INR") -> UserFills {
        UserFills(userID: user, currency: currency, capital: capital.map(d), fills: fills)
    }

    static func context(asOf: String, riskFree: Double = 0, prices: [String: String] = [:]) -> AnalyticsContext {
        var context = AnalyticsContext(asOfMicros: micros(asOf), riskFreeAnnual: riskFree)
        for (key, price) in prices {
            let parts = key.split(separator: ":")
            context.setLatestPrice(d(price), symbol: String(parts[0]), exchange: String(parts[1]))
        }
        return context
    }

    /// The all-time report.
    static func all(_ fills: [AnalyticsFill], capital: String? = nil, asOf: String = "2030-01-01T00:00:00Z", riskFree: Double = 0,
                    prices: [String: String] = [:]) -> AnalyticsReport {
        let reports = AnalyticsEngine().reports(for: user(fills, capital: capital), context: context(asOf: asOf, riskFree: riskFree, prices: prices))
        return reports.first { $0.period == .all }!
    }

    /// A round trip closing on the day (10:00–11:00 IST) realizing `pnl` on one share.
    static func roundTrip(day: String, pnl: String, symbol: String = "INFY") -> [AnalyticsFill] {
        let exit = (d("1000") + d(pnl)).description
        return [fill(.buy, "1", symbol, at: "1000", time: "\(day)T10:00:00+05:30"),
                fill(.sell, "1", symbol, at: exit, time: "\(day)T11:00:00+05:30")]
    }

    static func member(_ json: JSONValue, _ path: String...) -> JSONValue? {
        var value: JSONValue? = json
        for key in path { value = value?[key] }
        return value
    }
}
