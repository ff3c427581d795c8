import Foundation
import TMBrokers
import TMCore
import TMRisk
import Testing

/// Every pre-trade control: an order at the limit passes, one just past it is denied with the
/// control's reason code. The clock is a parameter; nothing here waits.
@Suite struct RiskControlTests {
    static let now = Date(timeIntervalSince1970: 1_780_000_000)
    static let infy = InstrumentKey(symbol: "INFY", exchange: "NSE")
    static let rules = InstrumentRules(lotSize: 1, tickSize: d("0.05"), priceScale: 2)

    /// A fresh account with 1,000,000 of buying power and positions read a minute ago.
    static func account(position: FixedDecimal = 0) -> AccountRisk {
        var account = AccountRisk()
        account.positions[infy] = position
        account.positionsAsOf = now.addingTimeInterval(-60)
        account.buyingPower = 1_000_000
        account.fundsAsOf = now.addingTimeInterval(-60)
        return account
    }

    static func buy(_ quantity: FixedDecimal, at price: FixedDecimal? = d("1500"), type: OrderType = .limit) -> OrderIntent {
        OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: quantity, type: type, limitPrice: type == .limit ? price : nil)
    }

    static func sell(_ quantity: FixedDecimal, at price: FixedDecimal? = d("1500"), type: OrderType = .limit) -> OrderIntent {
        OrderIntent(symbol: "INFY", exchange: "NSE", side: .sell, quantity: quantity, type: type, limitPrice: type == .limit ? price : nil)
    }

    func check(_ order: OrderIntent, _ account: AccountRisk = account(), limits: RiskLimits = RiskLimits(),
               rules: InstrumentRules? = rules, last: FixedDecimal? = d("1500"), at now: Date = now) -> Result<RiskAssessment, RiskDenial> {
        RiskEngine().evaluate(order, account: account, instrument: rules, lastPrice: last, limits: limits, now: now)
    }

    func reason(_ result: Result<RiskAssessment, RiskDenial>) -> RiskReason? {
        if case .failure(let denial) = result { return denial.reason }
        return nil
    }

    func passes(_ result: Result<RiskAssessment, RiskDenial>, sourceLocation: SourceLocation = #_sourceLocation) {
        if case .failure(let denial) = result { Issue.record("denied: \(denial)", sourceLocation: sourceLocation) }
    }

    @Test func haltedDeniesEveryOrder() {
        var limits = RiskLimits()
        limits.tradingState = .halted
        #expect(reason(check(Self.buy(1), limits: limits)) == .tradingHalted)
        #expect(reason(check(Self.sell(1), Self.account(position: 10), limits: limits)) == .tradingHalted)
    }

    @Test func reducingPassesOnlyOrdersThatReduce() {
        var limits = RiskLimits()
        limits.tradingState = .reducing
        passes(check(Self.sell(10), Self.account(position: 10), limits: limits))
        #expect(reason(check(Self.sell(11), Self.account(position: 10), limits: limits)) == .reduceOnlyWouldIncreasePosition)
        #expect(reason(check(Self.buy(1), Self.account(position: 10), limits: limits)) == .reduceOnlyWouldIncreasePosition)
        #expect(reason(check(Self.sell(1), Self.account(position: 0), limits: limits)) == .reduceOnlyWouldIncreasePosition)
        passes(check(Self.buy(5), Self.account(position: -5), limits: limits))
        // A working sell of 6 already reduces; another 5 would cross zero.
        var account = Self.account(position: 10)
        account.reserve(id: "o1", Self.sell(6), try! check(Self.sell(6), account).get(), at: Self.now)
        #expect(reason(check(Self.sell(5, at: d("1500.05")), account, limits: limits)) == .reduceOnlyWouldIncreasePosition)
        passes(check(Self.sell(4, at: d("1500.05")), account, limits: limits))
    }

    @Test func instrumentMustBeKnownAndTradable() {
        #expect(reason(check(Self.buy(1), rules: nil)) == .instrumentUnknown)
        var halted = Self.rules
        halted.tradable = false
        #expect(reason(check(Self.buy(1), rules: halted)) == .instrumentNotTradable)
    }

    @Test func restrictedSymbolsAreDenied() {
        var limits = RiskLimits()
        limits.restrictedSymbols = ["INFY"]
        #expect(reason(check(Self.buy(1), limits: limits)) == .restrictedSymbol)
        limits.restrictedSymbols = ["TCS"]
        passes(check(Self.buy(1), limits: limits))
    }

    @Test func lotTickAndPrecision() {
        let lots = InstrumentRules(lotSize: 25, tickSize: d("0.05"), priceScale: 2)
        passes(check(Self.buy(50), rules: lots))
        #expect(reason(check(Self.buy(60), rules: lots)) == .quantityNotLotMultiple)
        #expect(reason(check(Self.buy(0))) == .quantityNotPositive)
        passes(check(Self.buy(1, at: d("1500.05"))))
        #expect(reason(check(Self.buy(1, at: d("1500.03")))) == .priceNotTickMultiple)
        let fine = InstrumentRules(lotSize: d("0.00001"), tickSize: d("0.001"), priceScale: 2, quantityScale: 3)
        passes(check(Self.buy(d("0.001"), at: d("1500.01")), rules: fine))
        #expect(reason(check(Self.buy(d("0.0001"), at: d("1500.01")), rules: fine)) == .precisionExceeded)
        #expect(reason(check(Self.buy(1, at: d("1500.001")), rules: fine)) == .precisionExceeded)
    }

    @Test func pricesTheTypeNeedsMustBeThere() {
        #expect(reason(check(OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .limit))) == .priceMissing)
        #expect(reason(check(OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .stop))) == .triggerMissing)
        #expect(reason(check(OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .stopLimit, limitPrice: 1500)))
                == .triggerMissing)
        passes(check(OrderIntent(symbol: "INFY", exchange: "NSE", side: .buy, quantity: 1, type: .stop, triggerPrice: 1510)))
    }

    @Test func stalePositionsDenyWithARetryTime() {
        var account = Self.account()
        account.positionsAsOf = Self.now.addingTimeInterval(-600)
        passes(check(Self.buy(1), account))
        account.positionsAsOf = Self.now.addingTimeInterval(-601)
        let result = check(Self.buy(1), account)
        #expect(reason(result) == .positionsStale)
        if case .failure(let denial) = result { #expect(denial.retryAfter == .seconds(30)) }
        account.positionsAsOf = nil
        #expect(reason(check(Self.buy(1), account)) == .positionsStale)
    }

    @Test func marketOrdersNeedALastPrice() {
        passes(check(Self.buy(1, type: .market)))
        #expect(reason(check(Self.buy(1, type: .market), last: nil)) == .noReferencePrice)
    }

    @Test func priceBandAgainstTheLastPrice() {
        var limits = RiskLimits()
        limits.priceBandPercent = 5
        passes(check(Self.buy(1, at: d("1575")), limits: limits, last: 1500))
        #expect(reason(check(Self.buy(1, at: d("1575.05")), limits: limits, last: 1500)) == .priceOutsideBand)
        passes(check(Self.sell(1, at: d("1425")), limits: limits, last: 1500))
        #expect(reason(check(Self.sell(1, at: d("1424.95")), limits: limits, last: 1500)) == .priceOutsideBand)
    }

    @Test func maxQuantityAndNotional() {
        var limits = RiskLimits()
        limits.maxOrderQuantity = 100
        passes(check(Self.buy(100), limits: limits))
        #expect(reason(check(Self.buy(101), limits: limits)) == .quantityExceedsMaximum)
        limits = RiskLimits()
        limits.maxOrderNotional = 15000
        passes(check(Self.buy(10, at: 1500), limits: limits))
        #expect(reason(check(Self.buy(10, at: d("1500.05")), limits: limits)) == .notionalExceedsMaxPerOrder)
        // The contract multiplier counts: 1 lot of a 1,000-unit contract at 15 is worth 15,000.
        let contract = InstrumentRules(lotSize: 1, tickSize: d("0.0025"), multiplier: 1000)
        passes(check(Self.buy(1, at: 15), limits: limits, rules: contract))
        #expect(reason(check(Self.buy(1, at: d("15.0025")), limits: limits, rules: contract)) == .notionalExceedsMaxPerOrder)
    }

    @Test func dailyLossStopsOrdersThatAddExposure() {
        var limits = RiskLimits()
        limits.dailyLossLimit = 5000
        var account = Self.account(position: 10)
        account.dailyPnl = d("-4999.99")
        passes(check(Self.buy(1), account, limits: limits))
        account.dailyPnl = -5000
        #expect(reason(check(Self.buy(1), account, limits: limits)) == .dailyLossLimitReached)
        passes(check(Self.sell(10), account, limits: limits))
    }

    @Test func dailyTurnoverCountsFillsAndWorkingOrders() {
        var limits = RiskLimits()
        limits.dailyTurnoverLimit = 30000
        var account = Self.account()
        account.turnoverFilled = 10000
        account.reserve(id: "o1", Self.buy(5), try! check(Self.buy(5), account).get(), at: Self.now.addingTimeInterval(-10))
        // 10,000 filled + 7,500 working: 12,500 left.
        passes(check(Self.buy(d("8.33"), at: 1500), account, limits: limits, rules: InstrumentRules(lotSize: d("0.01"), tickSize: d("0.05"))))
        #expect(reason(check(Self.buy(9, at: 1500), account, limits: limits)) == .dailyTurnoverLimitExceeded)
        account.release(id: "o1")
        passes(check(Self.buy(13, at: 1500), account, limits: limits))
    }

    @Test func positionLimitsCountWorkingOrders() {
        var limits = RiskLimits()
        limits.maxPositionQuantity = 100
        var account = Self.account(position: 60)
        account.reserve(id: "o1", Self.buy(30), try! check(Self.buy(30), account).get(), at: Self.now.addingTimeInterval(-10))
        passes(check(Self.buy(10, at: d("1500.05")), account, limits: limits))
        #expect(reason(check(Self.buy(11, at: d("1500.05")), account, limits: limits)) == .positionLimitExceeded)
        limits = RiskLimits()
        limits.maxPositionNotional = 150000
        passes(check(Self.buy(10, at: d("1500")), account, limits: limits))
        #expect(reason(check(Self.buy(11, at: d("1500")), account, limits: limits)) == .positionNotionalLimitExceeded)
    }

    @Test func concentrationAgainstEquity() {
        var limits = RiskLimits()
        limits.maxConcentration = d("0.25")
        var account = Self.account()
        account.equity = 60000
        passes(check(Self.buy(10, at: 1500), account, limits: limits))
        #expect(reason(check(Self.buy(11, at: 1500), account, limits: limits)) == .concentrationLimitExceeded)
    }

    @Test func buyingPowerIncludesOrdersSentSinceTheFundsWereRead() {
        var account = Self.account()
        account.buyingPower = 30000
        passes(check(Self.buy(20, at: 1500), account))
        #expect(reason(check(Self.buy(d("20.05"), at: 1500), account, rules: InstrumentRules(lotSize: d("0.05"), tickSize: d("0.05"))))
                == .insufficientBuyingPower)
        account.reserve(id: "o1", Self.buy(10), try! check(Self.buy(10), account).get(), at: Self.now.addingTimeInterval(-1))
        passes(check(Self.buy(10, at: d("1499.95")), account))
        #expect(reason(check(Self.buy(11, at: d("1500")), account)) == .insufficientBuyingPower)
        // Funds read after that order already count it.
        account.fundsAsOf = Self.now
        account.buyingPower = 15000
        passes(check(Self.buy(10, at: d("1499.95")), account))
        account.buyingPower = nil
        #expect(reason(check(Self.buy(1), account)) == .fundsUnknown)
        // Selling what is held needs no buying power.
        passes(check(Self.sell(1), Self.account(position: 1).with { $0.buyingPower = 0 }))
    }

    @Test func maxOpenOrders() {
        var limits = RiskLimits()
        limits.maxOpenOrders = 2
        var account = Self.account()
        account.reserve(id: "o1", Self.buy(1, at: 1400), try! check(Self.buy(1, at: 1400), account).get(), at: Self.now.addingTimeInterval(-10))
        passes(check(Self.buy(1), account, limits: limits))
        account.reserve(id: "o2", Self.buy(1, at: 1405), try! check(Self.buy(1, at: 1405), account).get(), at: Self.now.addingTimeInterval(-10))
        #expect(reason(check(Self.buy(1), account, limits: limits)) == .maxOpenOrdersReached)
    }

    @Test func submitRateThrottleSaysWhenToRetry() {
        var limits = RiskLimits()
        limits.maxOrdersPerSecond = 2
        var account = Self.account()
        let first = Self.now.addingTimeInterval(-0.75)
        account.reserve(id: "o1", Self.buy(1, at: 1400), try! check(Self.buy(1, at: 1400), account).get(), at: first)
        passes(check(Self.buy(2), account, limits: limits))
        account.reserve(id: "o2", Self.buy(1, at: 1405), try! check(Self.buy(1, at: 1405), account).get(), at: Self.now.addingTimeInterval(-0.5))
        let result = check(Self.buy(3), account, limits: limits)
        #expect(reason(result) == .rateLimitExceeded)
        if case .failure(let denial) = result { #expect(denial.retryAfter == .milliseconds(250)) }
        passes(check(Self.buy(3), account, limits: limits, at: first.addingTimeInterval(1.001)))
    }

    @Test func identicalOrdersWithinTheWindowAreDuplicates() {
        var account = Self.account()
        account.reserve(id: "o1", Self.buy(5), try! check(Self.buy(5), account).get(), at: Self.now.addingTimeInterval(-1))
        #expect(reason(check(Self.buy(5), account)) == .duplicateOrder)
        passes(check(Self.buy(6), account))
        passes(check(Self.buy(5), account, at: Self.now.addingTimeInterval(1)))
    }

    @Test func selfTradeAgainstOwnRestingOrders() {
        var account = Self.account(position: 10)
        account.reserve(id: "s1", Self.sell(5, at: 1510), try! check(Self.sell(5, at: 1510), account).get(), at: Self.now.addingTimeInterval(-10))
        passes(check(Self.buy(1, at: d("1509.95")), account))
        #expect(reason(check(Self.buy(1, at: 1510), account)) == .selfTrade)
        #expect(reason(check(Self.buy(1, type: .market), account, last: 1510)) == .selfTrade)
        passes(check(Self.buy(1, type: .market), account, last: 1505))
    }

    @Test func aFillMovesTheReservationIntoTheDayAndThePosition() {
        var account = Self.account()
        account.reserve(id: "o1", Self.buy(10), try! check(Self.buy(10), account).get(), at: Self.now)
        #expect(account.turnoverReserved == 15000)
        account.fill(id: "o1", instrument: Self.infy, side: .buy, quantity: 4, price: d("1499.5"))
        #expect(account.turnoverReserved == 9000)
        #expect(account.turnoverFilled == 5998)
        #expect(account.position(Self.infy) == 4)
        account.fill(id: "o1", instrument: Self.infy, side: .buy, quantity: 6, price: 1500)
        #expect(account.turnoverReserved == 0)
        #expect(account.workingOrders.isEmpty)
        #expect(account.position(Self.infy) == 10)
    }

    @Test func emergencyLimitsApplyForAnHourAndSaySo() {
        let limits = RiskLimits.emergency(now: Self.now)
        passes(check(Self.buy(1, at: 2000), limits: limits))
        let result = check(Self.buy(1, at: d("2000.05")), limits: limits)
        #expect(reason(result) == .notionalExceedsMaxPerOrder)
        if case .failure(let denial) = result { #expect(denial.message.contains("emergency limits")) }
        if case .success(let assessment) = check(Self.buy(1, at: 2000), limits: limits) { #expect(assessment.underEmergencyLimits) }
        var account = Self.account()
        account.turnoverFilled = 9000
        #expect(reason(check(Self.buy(1, at: d("1000.05")), account, limits: limits)) == .dailyTurnoverLimitExceeded)
    }

    @Test func combinedLimitsAreTheStricterOfBoth() {
        var user = RiskLimits()
        user.maxOrderQuantity = 100
        user.tradingState = .reducing
        user.restrictedSymbols = ["A"]
        var account = RiskLimits()
        account.maxOrderQuantity = 50
        account.maxOrderNotional = 10
        account.restrictedSymbols = ["B"]
        let both = user.combined(with: account)
        #expect(both.maxOrderQuantity == 50)
        #expect(both.maxOrderNotional == 10)
        #expect(both.tradingState == .reducing)
        #expect(both.restrictedSymbols == ["A", "B"])
        #expect(account.combined(with: user) == both)
    }
}

func d(_ text: String) -> FixedDecimal { FixedDecimal(text)! }

extension AccountRisk {
    func with(_ change: (inout AccountRisk) -> Void) -> AccountRisk {
        var copy = self
        change(&copy)
        return copy
    }
}
