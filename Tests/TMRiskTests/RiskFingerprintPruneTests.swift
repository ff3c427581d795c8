import Foundation
import TMBrokers
import TMCore
@testable import TMRisk
import Testing

/// The duplicate memory is pruned (fingerprints a minute old) and still answers exactly: a twin
/// inside the window is a duplicate after many prunes, one just outside passes, and a fingerprint
/// accepted again keeps its latest time when its first acceptance is forgotten.
@Suite struct RiskFingerprintPruneTests {
    // Times on eighths of a second: exact in binary, so "exactly the window ago" is exact.
    static let start = Date(timeIntervalSince1970: 1_780_000_000)
    static let rules = InstrumentRules(lotSize: 1, tickSize: 1, priceScale: 2)
    static let engine = RiskEngine()

    static func account() -> AccountRisk {
        var account = AccountRisk()
        account.positionsAsOf = start
        account.buyingPower = 1_000_000_000
        account.fundsAsOf = start.addingTimeInterval(-60)
        return account
    }

    static func order(_ quantity: Int) -> OrderIntent {
        OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: FixedDecimal(quantity), type: .limit, limitPrice: 100)
    }

    static func evaluate(_ order: OrderIntent, _ account: AccountRisk, _ limits: RiskLimits, at now: Date) -> Result<RiskAssessment, RiskDenial> {
        engine.evaluate(order, account: account, instrument: rules, lastPrice: 100, limits: limits, now: now)
    }

    /// Accepts and ends an order (its fingerprint stays in the duplicate memory).
    static func accept(_ order: OrderIntent, id: String, into account: inout AccountRisk, _ limits: RiskLimits, at now: Date) throws {
        guard case .success(let assessment) = evaluate(order, account, limits, at: now) else {
            Issue.record("order \(id) denied")
            throw CancellationError()
        }
        account.reserve(id: id, order, assessment, at: now)
        account.release(id: id)
    }

    @Test func twinInsideTheWindowIsADuplicateAfterManyPrunesAndOneJustOutsidePasses() throws {
        var account = Self.account()
        var limits = RiskLimits()
        limits.maxOrdersPerSecond = 1_000
        // 8 distinct orders a second for 200 s: 480 a minute, so every order past the first minute prunes.
        let count = 1_600
        var largest = 0
        for index in 0..<count {
            try Self.accept(Self.order(1 + index), id: "o\(index)", into: &account, limits, at: Self.start.addingTimeInterval(Double(index) / 8))
            largest = max(largest, account.recentFingerprints.count)
        }
        let now = Self.start.addingTimeInterval(Double(count) / 8)
        // Placed 1.875 s ago (the default window is 2 s): a duplicate.
        guard case .failure(let denial) = Self.evaluate(Self.order(1 + count - 15), account, limits, at: now) else {
            Issue.record("the twin of an order 1.875 s old passed")
            return
        }
        #expect(denial.reason == .duplicateOrder)
        // Placed exactly 2 s ago: outside the window.
        guard case .success = Self.evaluate(Self.order(1 + count - 16), account, limits, at: now) else {
            Issue.record("the twin of an order 2 s old was denied")
            return
        }
        // Memory: at most twice the last minute's 480 (pruned when doubled), below the 1,600 placed.
        #expect(largest <= 2 * 481 + 1, "largest \(largest)")
    }

    @Test func fingerprintAcceptedAgainKeepsItsLatestTimeWhenTheFirstIsForgotten() throws {
        var account = Self.account()
        var limits = RiskLimits()
        limits.maxOrdersPerSecond = 1_000
        limits.duplicateWindow = .seconds(45)
        let repeated = Self.order(7)
        try Self.accept(repeated, id: "first", into: &account, limits, at: Self.start)
        // Other orders, 8 a second, until 62 s later; the same order again at 50 s (outside 45 s).
        for tick in 1...(62 * 8) {
            let now = Self.start.addingTimeInterval(Double(tick) / 8)
            if tick == 50 * 8 {
                try Self.accept(repeated, id: "again", into: &account, limits, at: now)
            } else {
                try Self.accept(Self.order(1_000 + tick), id: "o\(tick)", into: &account, limits, at: now)
            }
        }
        // The first acceptance (62 s old) is forgotten; the second, 12.5 s ago, is inside the window.
        guard case .failure(let denial) = Self.evaluate(repeated, account, limits, at: Self.start.addingTimeInterval(62.5)) else {
            Issue.record("an order accepted 12.5 s ago passed its 45 s duplicate window")
            return
        }
        #expect(denial.reason == .duplicateOrder)
    }
}
