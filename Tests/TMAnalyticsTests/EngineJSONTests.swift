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
}
