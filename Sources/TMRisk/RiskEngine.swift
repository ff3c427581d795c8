import Foundation
import TMBrokers
import TMCore

/// What the engine found for an order it lets through: the value it reserves and why.
public struct RiskAssessment: Sendable, Equatable {
    /// The price its value is counted at: limit, else trigger, else the last price.
    public var price: FixedDecimal
    public var multiplier: FixedDecimal
    /// quantity × price × multiplier.
    public var notional: FixedDecimal
    /// It only takes an existing position towards zero (with the account's other working orders on
    /// its side), so it passes REDUCING, loss and turnover limits and needs no buying power.
    public var reducesExposure: Bool
    /// Checked against the emergency limits (none could be loaded).
    public var underEmergencyLimits: Bool

    public init(price: FixedDecimal, multiplier: FixedDecimal, notional: FixedDecimal, reducesExposure: Bool, underEmergencyLimits: Bool) {
        self.price = price
        self.multiplier = multiplier
        self.notional = notional
        self.reducesExposure = reducesExposure
        self.underEmergencyLimits = underEmergencyLimits
    }
}

/// The pre-trade risk engine: every control of REFERENCE.md, in process, on the account's state in
/// memory. A pure function of its inputs (the clock is passed in), so it is tested control by
/// control and costs microseconds.
///
/// Guarantees: an order passes only if every control passes; the first failing control, in the
/// order below, is the denial, with its reason code and a message naming the numbers. Cancels are
/// never checked (they reduce risk; HALTED lets them through). Controls, in order: trading state
/// HALTED (also once the emergency limits' hour is over: `RiskLimits.emergencyUntil`); instrument known and tradable; restricted list; prices present for the type; quantity
/// and prices on the instrument's lot, tick and precision (`InstrumentRules.breach`, the check
/// intake runs too); positions fresh; REDUCING only reduces;
/// reference price; price band; max quantity; max notional; daily loss; daily turnover; position
/// quantity and notional; concentration; buying power (with working orders); max open orders;
/// submit rate; duplicate; self-trade.
public struct RiskEngine: Sendable {
    /// How long to wait before retrying after `POSITIONS_STALE` (the next sync should have run).
    public var staleRetry: Duration = .seconds(30)

    public init() {}

    /// The message of `FUNDS_UNKNOWN` as the engine words it (a caller that knows why — funds read,
    /// but none in the instrument's currency — replaces it: `RiskBook`).
    public static let fundsNotLoaded = "the account's funds have not been loaded"

    public func evaluate(_ order: OrderIntent, account: AccountRisk, instrument rules: InstrumentRules?, lastPrice: FixedDecimal?,
                         limits: RiskLimits, now: Date) -> Result<RiskAssessment, RiskDenial> {
        let emergency = limits.emergencyUntil.map { now < $0 } ?? false
        // Messages are built only for a denial: an order that passes formats nothing.
        func deny(_ reason: RiskReason, _ message: @autoclosure () -> String, retryAfter: Duration? = nil) -> Result<RiskAssessment, RiskDenial> {
            .failure(RiskDenial(reason, message() + (emergency ? " (emergency limits: trading limits could not be loaded)" : ""),
                                retryAfter: retryAfter))
        }
        let key = order.instrument
        var name: String { "\(order.exchange):\(order.symbol)" }

        if limits.tradingState == .halted { return deny(.tradingHalted, "trading is halted; only cancels are accepted") }
        // The emergency limits hold for their hour only: past it, with the limits still unreadable,
        // no order has limits it may be checked against, so none passes (cancels still do).
        if let until = limits.emergencyUntil, now >= until {
            return deny(.tradingHalted, "trading limits could not be loaded and the emergency limits expired at \(until.ISO8601Format()); "
                        + "only cancels are accepted until the limits can be read")
        }
        guard let rules else { return deny(.instrumentUnknown, "\(name) is not in the instrument master") }
        guard rules.tradable else { return deny(.instrumentNotTradable, "\(name) is not tradable") }
        if limits.restrictedSymbols.contains(order.symbol) { return deny(.restrictedSymbol, "\(order.symbol) is on the restricted list") }

        let needsLimit = order.type == .limit || order.type == .stopLimit
        let needsTrigger = order.type == .stop || order.type == .stopLimit
        if needsLimit && order.limitPrice == nil { return deny(.priceMissing, "a \(order.type.rawValue) order needs a limit price") }
        if needsTrigger && order.triggerPrice == nil { return deny(.triggerMissing, "a \(order.type.rawValue) order needs a trigger price") }
        if let breach = rules.breach(quantity: order.quantity, limitPrice: needsLimit ? order.limitPrice : nil,
                                     triggerPrice: needsTrigger ? order.triggerPrice : nil) {
            return deny(breach.reason, breach.message)
        }

        guard let asOf = account.positionsAsOf, now.timeIntervalSince(asOf) <= limits.maxPositionAge.seconds else {
            let age = account.positionsAsOf.map { "\(Int(now.timeIntervalSince($0)))s old" } ?? "not loaded"
            return deny(.positionsStale, "the account's positions are \(age), older than \(Int(limits.maxPositionAge.seconds))s",
                        retryAfter: staleRetry)
        }
        let position = account.position(key)
        let reduces = reducesExposure(order, position: position, account: account)
        if limits.tradingState == .reducing && !reduces {
            return deny(.reduceOnlyWouldIncreasePosition,
                        "the account may only reduce positions; \(order.side.rawValue) \(order.quantity) against a position of \(position) would not")
        }

        let limitOrTrigger = (needsLimit ? order.limitPrice : nil) ?? (needsTrigger ? order.triggerPrice : nil)
        guard let price = limitOrTrigger ?? lastPrice else {
            return deny(.noReferencePrice, "no last price for \(name) to value a market order")
        }
        // |limit − last| / last > band%, cross-multiplied: no division in the check.
        if let band = limits.priceBandPercent, let last = lastPrice, last > 0, let limit = limitOrTrigger, (limit - last).magnitude * 100 > band * last {
            return deny(.priceOutsideBand, "price \(limit) is \(percent((limit - last).magnitude, of: last))% from the last price \(last); the band is \(band)%")
        }
        if let max = limits.maxOrderQuantity, order.quantity > max {
            return deny(.quantityExceedsMaximum, "quantity \(order.quantity) exceeds the maximum \(max)")
        }
        let notional = order.quantity * price * rules.multiplier
        if let max = limits.maxOrderNotional, notional > max {
            return deny(.notionalExceedsMaxPerOrder, "order value \(notional) exceeds the maximum \(max) per order")
        }
        if !reduces {
            if let limit = limits.dailyLossLimit, account.dailyLoss >= limit {
                return deny(.dailyLossLimitReached, "today's loss \(account.dailyLoss) has reached the limit \(limit); only reducing orders pass")
            }
            if let limit = limits.dailyTurnoverLimit {
                let used = account.turnoverUsed
                if used + notional > limit {
                    return deny(.dailyTurnoverLimitExceeded,
                                "order value \(notional) with today's \(used) would exceed the daily turnover limit \(limit)")
                }
            }
            let projected = position + account.working(key, side: order.side) * (order.side == .buy ? 1 : -1) + order.signedQuantity
            if let max = limits.maxPositionQuantity, projected.magnitude > max {
                return deny(.positionLimitExceeded, "the position would reach \(projected) (with working orders); the limit is \(max)")
            }
            let projectedValue = projected.magnitude * price * rules.multiplier
            if let max = limits.maxPositionNotional, projectedValue > max {
                return deny(.positionNotionalLimitExceeded, "the position would be worth \(projectedValue); the limit is \(max)")
            }
            if let share = limits.maxConcentration, let equity = account.equity, equity > 0, projectedValue > share * equity {
                return deny(.concentrationLimitExceeded,
                            "the position would be \(percent(projectedValue, of: equity))% of the account's equity; the limit is \(share * 100)%")
            }
            guard let power = account.buyingPower else { return deny(.fundsUnknown, Self.fundsNotLoaded) }
            let available = power - account.buyingPowerReserved
            if notional > available {
                return deny(.insufficientBuyingPower, "order value \(notional) exceeds the buying power left \(available) (open orders included)")
            }
        }
        if let max = limits.maxOpenOrders, account.workingOrders.count >= max {
            return deny(.maxOpenOrdersReached, "the account has \(account.workingOrders.count) open orders; the limit is \(max)")
        }
        if let rate = limits.maxOrdersPerSecond {
            let recent = account.submissions(inSecondBefore: now)
            if recent.count >= rate, let oldest = recent.first {
                let wait = Duration.milliseconds(max(1, Int64((oldest.timeIntervalSince(now) + 1) * 1000)))
                return deny(.rateLimitExceeded, "\(recent.count) orders in the last second; the limit is \(rate)/s", retryAfter: wait)
            }
        }
        if let last = account.lastAccepted(AccountRisk.Fingerprint(order)), now.timeIntervalSince(last) < limits.duplicateWindow.seconds {
            return deny(.duplicateOrder, "an identical order was accepted \(Int(now.timeIntervalSince(last) * 1000))ms ago")
        }
        if let resting = selfTrade(order, account: account, lastPrice: lastPrice) {
            return deny(.selfTrade, "it would trade against the account's own resting \(resting.side.rawValue) order \(resting.id)")
        }
        return .success(RiskAssessment(price: price, multiplier: rules.multiplier, notional: notional, reducesExposure: reduces,
                                       underEmergencyLimits: emergency))
    }

    /// The order takes the position towards zero without crossing it, counting the other working
    /// orders on the same side (two sells of 60 against 100 held: the second does not reduce).
    public func reducesExposure(_ order: OrderIntent, position: FixedDecimal, account: AccountRisk) -> Bool {
        guard position != 0, (position > 0) != (order.side == .buy) else { return false }
        return account.working(order.instrument, side: order.side) + order.quantity <= position.magnitude
    }

    /// A resting limit order of the account on the other side that this one would trade against: a
    /// limit order crossing its price, a market order when the resting price is at or through the
    /// last price (where the market order would meet it). Unpriceable cases count as crossing.
    func selfTrade(_ order: OrderIntent, account: AccountRisk, lastPrice: FixedDecimal?) -> WorkingOrder? {
        let mine = order.type == .limit ? order.limitPrice : (order.type == .market ? lastPrice : nil)
        guard account.working(order.instrument, side: order.side == .buy ? .sell : .buy) > 0 else { return nil }
        return account.firstWorkingOrder(of: order.instrument) { resting in
            guard resting.side != order.side else { return false }
            guard let mine, let theirs = resting.limitPrice else { return true }
            return order.side == .buy ? mine >= theirs : mine <= theirs
        }
    }

    /// `part / whole` in percent with two places, for messages only (Foundation's division is slow
    /// but exact enough to read; checks never divide).
    private func percent(_ part: FixedDecimal, of whole: FixedDecimal) -> String {
        DecimalText.fixed(part.decimal / whole.decimal * 100, scale: 2)
    }
}
