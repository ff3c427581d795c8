import Foundation
import Testing
import TMCore
@testable import TMAnalytics

/// The report JSON: snake_case, exact decimals as strings, undefined as null, win rate a fraction.
@Suite struct EngineJSONTests {
    typealias F = EngineFixture

    @Test func reportJSONKeepsDecimalsExactAndUndefinedAsNull() throws {
        let r = F.all(F.roundTrip(day: "2024-01-01", pnl: "0.1") + F.roundTrip(day: "2024-01-02", pnl: "0.2")
                      + F.roundTrip(day: "2024-01-03", pnl: "-0.05"))
        let json = AnalyticsEngine.json(r)
        #expect(json["realized_pnl"] == .string("0.25"))
        #expect(json["win_rate"] == .number("\(2.0 / 3.0)"))
        #expect(json["sharpe"] == .null)
        #expect(json["period"] == .string("all"))
        #expect(json["period_start"] == .string("1970-01-01"))
        #expect(json["user_id"] == .string("00000000-0000-0000-0000-0000000000e1"))
        #expect(json["unrealized_pnl"] == .string("0"))
        #expect(json["profit_factor"] == .number("6.0"))
        // The text parses back to the same document.
        #expect(try JSONValue.parse(json.text) == json)
    }

    /// The text form is the same document, and `writeJSON` appends to a buffer (a COPY batch)
    /// without touching what is already in it.
    @Test func jsonTextIsTheSameDocumentAndAppends() throws {
        let reports = AnalyticsEngine().reports(for: F.user(F.roundTrip(day: "2024-01-01", pnl: "-0.000000001") + [
            F.fill(.sell, "2", "QUOTE\"\\D", at: "5", fee: "0.1", time: "2024-01-02T10:00:00+05:30"),
        ], capital: "100"), context: F.context(asOf: "2024-01-03T00:00:00Z", prices: ["QUOTE\"\\D:NSE": "4"]))
        var buffer = Array("prefix\t".utf8)
        for r in reports {
            let text = AnalyticsEngine.jsonText(r)
            #expect(try JSONValue.parse(text) == AnalyticsEngine.json(r))
            #expect(AnalyticsEngine.json(r)["realized_pnl"] != nil)
            AnalyticsEngine.writeJSON(r, into: &buffer)
            buffer.append(10)
        }
        let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == reports.count)
        #expect(lines[0].hasPrefix("prefix\t{"))
        let all = AnalyticsEngine.json(reports.last!)
        #expect(all["realized_pnl"] == .string("-0.000000001"))
        #expect(all["unrealized_pnl"] == .string("2"))
        #expect(all["most_traded_symbol"] == .string("INFY"))
    }

    /// A user trading on NSE and NASDAQ in one currency: the daily series ends on the evaluation
    /// date in the zone of the exchange with most of the user's fills (NSE: 01:30 on 3 January IST,
    /// though it is still 2 January in New York).
    @Test func theDailySeriesEndsInTheMainExchangesZone() {
        let r = F.all(F.roundTrip(day: "2024-01-01", pnl: "1") + [
            F.fill(.buy, "1", at: "10", time: "2024-01-02T10:00:00+05:30"),
            F.fill(.buy, "1", "AAPL", at: "10", time: "2024-01-02T15:00:00Z", exchange: "NASDAQ"),
        ], capital: "100", asOf: "2024-01-02T20:00:00Z")
        #expect(F.member(AnalyticsEngine.json(r), "returns", "last_day") == .string("2024-01-03"))
        #expect(F.member(AnalyticsEngine.json(r), "returns", "days") == .number("3"))
    }
}
