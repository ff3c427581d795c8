import Foundation
import TMCore

/// Why the pre-trade risk engine refused an order: a stable code for machines (stored on the order,
/// in the audit log and on `trade-events`) and the words a trader reads.
public enum RiskReason: String, Sendable, CaseIterable, Codable {
    case tradingHalted = "TRADING_HALTED"
    case reduceOnlyWouldIncreasePosition = "REDUCE_ONLY_WOULD_INCREASE_POSITION"
    case instrumentUnknown = "INSTRUMENT_UNKNOWN"
    case instrumentNotTradable = "INSTRUMENT_NOT_TRADABLE"
    case restrictedSymbol = "RESTRICTED_SYMBOL"
    case quantityNotPositive = "QUANTITY_NOT_POSITIVE"
    case quantityNotLotMultiple = "QUANTITY_NOT_LOT_MULTIPLE"
    case priceNotTickMultiple = "PRICE_NOT_TICK_MULTIPLE"
    case precisionExceeded = "PRECISION_EXCEEDED"
    case priceMissing = "PRICE_MISSING"
    case triggerMissing = "TRIGGER_MISSING"
    case positionsStale = "POSITIONS_STALE"
    case noReferencePrice = "NO_REFERENCE_PRICE"
    case priceOutsideBand = "PRICE_OUTSIDE_BAND"
    case quantityExceedsMaximum = "QUANTITY_EXCEEDS_MAXIMUM"
    case notionalExceedsMaxPerOrder = "NOTIONAL_EXCEEDS_MAX_PER_ORDER"
    case positionLimitExceeded = "POSITION_LIMIT_EXCEEDED"
    case positionNotionalLimitExceeded = "POSITION_NOTIONAL_LIMIT_EXCEEDED"
    case concentrationLimitExceeded = "CONCENTRATION_LIMIT_EXCEEDED"
    case fundsUnknown = "FUNDS_UNKNOWN"
    case insufficientBuyingPower = "INSUFFICIENT_BUYING_POWER"
    case dailyLossLimitReached = "DAILY_LOSS_LIMIT_REACHED"
    case dailyTurnoverLimitExceeded = "DAILY_TURNOVER_LIMIT_EXCEEDED"
    case maxOpenOrdersReached = "MAX_OPEN_ORDERS_REACHED"
    case rateLimitExceeded = "RATE_LIMIT_EXCEEDED"
    case duplicateOrder = "DUPLICATE_ORDER"
    case selfTrade = "SELF_TRADE"
}

/// One refusal: the reason, a message naming the numbers involved, and when trying again may pass
/// (set for refusals that time cures: the throttle, stale positions).
public struct RiskDenial: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var reason: RiskReason
    public var message: String
    public var retryAfter: Duration?

    public init(_ reason: RiskReason, _ message: String, retryAfter: Duration? = nil) {
        self.reason = reason
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { "\(reason.rawValue): \(message)" }

    enum CodingKeys: String, CodingKey { case reason, message, retryAfterMilliseconds = "retry_after_ms" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        reason = try container.decode(RiskReason.self, forKey: .reason)
        message = try container.decode(String.self, forKey: .message)
        retryAfter = try container.decodeIfPresent(Int64.self, forKey: .retryAfterMilliseconds).map { .milliseconds($0) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reason, forKey: .reason)
        try container.encode(message, forKey: .message)
        try container.encodeIfPresent(retryAfter?.milliseconds, forKey: .retryAfterMilliseconds)
    }
}
