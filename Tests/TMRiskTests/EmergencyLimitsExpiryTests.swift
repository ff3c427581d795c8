import Foundation
import TMBrokers
import TMCore
import TMRisk
import Testing

/// The emergency limits hold for their hour: up to its end they decide; from its end on, with the
/// limits still unreadable, no order passes (`TRADING_HALTED`, saying why). The clock is a parameter.
@Suite struct EmergencyLimitsExpiryTests {
    static let start = Date(timeIntervalSince1970: 1_780_000_000)
    static let infy = InstrumentKey(symbol: "INFY", exchange: "NSE")

    func check(_ price: FixedDecimal, limits: RiskLimits, at now: Date) -> Result<RiskAssessment, RiskDenial> {
        var account = AccountRisk()
        account.positions[Self.infy] = 0
        account.positionsAsOf = now
        account.buyingPower = 1_000_000
        account.fundsAsOf = now
        let order = OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .limit, limitPrice: price)
        return RiskEngine().evaluate(order, account: account, instrument: InstrumentRules(lotSize: 1, tickSize: FixedDecimal("0.05")!),
                                     lastPrice: price, limits: limits, now: now)
    }

    @Test func anOrderPassesUpToTheEndOfTheHourAndNoneFromIt() throws {
        let limits = RiskLimits.emergency(now: Self.start)
        let until = try #require(limits.emergencyUntil)
        #expect(until == Self.start.addingTimeInterval(3600))
        // At the single-trade limit, in the last instant of the hour: passes, under the emergency limits.
        let last = check(2000, limits: limits, at: until.addingTimeInterval(-0.001))
        #expect((try? last.get())?.underEmergencyLimits == true, "\(last)")
        // From the end of the hour: denied, whatever the order, saying the emergency limits expired.
        for at in [until, until.addingTimeInterval(86_400)] {
            guard case .failure(let denial) = check(1, limits: limits, at: at) else {
                Issue.record("an order passed after the emergency limits expired")
                continue
            }
            #expect(denial.reason == .tradingHalted)
            #expect(denial.message.contains("emergency limits expired"), "\(denial.message)")
        }
    }

    @Test func limitsThatWereReadNeverExpire() {
        var limits = RiskLimits()
        limits.maxOrderNotional = 2000
        #expect((try? check(2000, limits: limits, at: Self.start.addingTimeInterval(86_400 * 365)).get()) != nil)
    }
}
