import Foundation
import TMBrokers
import TMCore
import TMRisk
import Testing

/// The limits whose boundary `RiskControlTests` approaches but does not hit exactly: an order that
/// takes the day's turnover exactly to the limit passes, one tick more is denied — for a stored
/// limit and for the emergency day limit of 10,000.00.
@Suite struct RiskLimitBoundaryTests {
    static let now = Date(timeIntervalSince1970: 1_780_000_000)
    static let infy = InstrumentKey(symbol: "INFY", exchange: "NSE")

    func check(_ price: String, filled: FixedDecimal, limits: RiskLimits) -> RiskReason? {
        var account = AccountRisk()
        account.positions[Self.infy] = 0
        account.positionsAsOf = Self.now
        account.buyingPower = 1_000_000
        account.fundsAsOf = Self.now
        account.turnoverFilled = filled
        let order = OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .limit, limitPrice: FixedDecimal(price)!)
        let result = RiskEngine().evaluate(order, account: account, instrument: InstrumentRules(lotSize: 1, tickSize: FixedDecimal("0.05")!),
                                           lastPrice: FixedDecimal(price)!, limits: limits, now: Self.now)
        if case .failure(let denial) = result { return denial.reason }
        return nil
    }

    @Test func theDaysTurnoverMayReachItsLimitButNotPassIt() {
        var limits = RiskLimits()
        limits.dailyTurnoverLimit = 30000
        #expect(check("1500", filled: 28500, limits: limits) == nil)
        #expect(check("1500.05", filled: 28500, limits: limits) == .dailyTurnoverLimitExceeded)
    }

    @Test func theEmergencyDayLimitIsTenThousand() {
        let limits = RiskLimits.emergency(now: Self.now)
        #expect(check("1000", filled: 9000, limits: limits) == nil)
        #expect(check("1000.05", filled: 9000, limits: limits) == .dailyTurnoverLimitExceeded)
    }
}
