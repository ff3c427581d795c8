import Foundation
import TMBrokers
import TMCore
@testable import TMRisk
import Testing

/// The account ledger's memory of recent orders stays bounded at a high order rate, without
/// forgetting a duplicate inside its window.
@Suite struct RiskFastPathTests {
    static let start = Date(timeIntervalSince1970: 1_780_000_000)
    static let rules = InstrumentRules(lotSize: 1, tickSize: 1, priceScale: 2)

    @Test func fingerprintsStayBoundedAndDuplicatesAreStillSeen() {
        var account = AccountRisk()
        account.positionsAsOf = Self.start
        account.buyingPower = 1_000_000_000
        account.fundsAsOf = Self.start.addingTimeInterval(-60)
        var limits = RiskLimits()
        limits.maxOrdersPerSecond = 1_000
        let engine = RiskEngine()
        var largest = 0
        // 20 distinct orders a second for 150 s: 1,200 in any minute.
        for index in 0..<3000 {
            let now = Self.start.addingTimeInterval(Double(index) / 20)
            let order = OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: FixedDecimal(1 + index), type: .limit, limitPrice: 100)
            guard case .success(let assessment) = engine.evaluate(order, account: account, instrument: Self.rules, lastPrice: 100, limits: limits, now: now) else {
                Issue.record("order \(index) denied")
                return
            }
            account.reserve(id: "o\(index)", order, assessment, at: now)
            account.release(id: "o\(index)")
            largest = max(largest, account.recentFingerprints.count)
            // The twin of the order placed a second ago is a duplicate (the default window is 2 s).
            if index >= 20, index % 97 == 0 {
                let twin = OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: FixedDecimal(1 + index - 20), type: .limit, limitPrice: 100)
                guard case .failure(let denial) = engine.evaluate(twin, account: account, instrument: Self.rules, lastPrice: 100, limits: limits, now: now) else {
                    Issue.record("the twin of order \(index - 20) passed")
                    return
                }
                #expect(denial.reason == .duplicateOrder)
            }
        }
        // At most twice the minute's 1,200 (pruned when doubled), far below the 3,000 placed.
        #expect(largest <= 2 * 1201 + 1, "largest \(largest)")
    }
}
