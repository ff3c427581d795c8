import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMMarketData
import TMRisk

/// Kite allows one quote request per second: market-data's Kite provider keeps to a quote budget
/// of its own, shared in Redis by every process, so cycles back to back never draw a 429 and never
/// send Kite's instruments to Upstox. Counted at broker-sim (which enforces Kite's quote limit,
/// here with a window shortened to 500 ms to leave room for scheduling jitter), no clock read.
@Suite(.serialized) struct KiteQuoteBudgetTests {
    @Test func twoServicesSharingAnAccountKeepToKitesQuoteBudget() async throws {
        let h = try await MarketDataHarness(brokers: [.kite, .upstox], simArguments: ["--demo", "--kite-quote-window-ms", "500"])
        defer { Task { await h.cleanUp() } }
        try h.pin(.kite, "INFY", "1402.55")
        try h.pin(.upstox, "INFY", "1402.6")
        try h.watch("INFY", "NSE")
        // Two services, as two market-data processes would be: their own providers, one Redis.
        let services = [h.service(), h.service()]
        let reports = try await withThrowingTaskGroup(of: [CycleReport].self) { group in
            for service in services {
                group.addTask {
                    var reports: [CycleReport] = []
                    for _ in 0..<2 { reports.append(try await service.runCycle()) }
                    return reports
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(reports.count == 4)
        for report in reports {
            #expect(report.failures.isEmpty, "\(report.failures)")
            #expect(report.sources[InstrumentKey(symbol: "INFY", exchange: "NSE")] == .kite, "\(report.sources)")
        }
        let kite = try h.requests(.kite).filter { $0.key.hasPrefix("GET /quote") }
        #expect(kite.values.map(\.answered).reduce(0, +) == 4, "\(kite)")
        #expect(kite.values.map(\.rateLimited).reduce(0, +) == 0, "\(kite)")
        #expect(try h.requests(.upstox).filter { $0.key.contains("quote") }.isEmpty, "nothing fell back to Upstox")
    }
}
