import Foundation
import TMCore
import TMOrders
import TMRisk

/// A daily limit that limit alerts watch, with its usage as the risk engine counts it.
public enum DailyLimit: String, Sendable, CaseIterable {
    case loss = "daily_loss"
    case turnover = "daily_turnover"

    /// The limit in force, nil when the account has none.
    public func limit(_ limits: RiskLimits) -> FixedDecimal? {
        switch self {
        case .loss: return limits.dailyLossLimit
        case .turnover: return limits.dailyTurnoverLimit
        }
    }

    /// Today's use (`DailyLimitUsage`, i.e. the risk engine's own figures).
    public func used(_ usage: DailyLimitUsage) -> FixedDecimal {
        switch self {
        case .loss: return usage.loss
        case .turnover: return usage.turnover
        }
    }

    var words: String {
        switch self {
        case .loss: return "daily loss"
        case .turnover: return "daily turnover"
        }
    }
}

/// How far a daily limit is used: a warning from 80%, a breach from 100%.
public enum LimitLevel: String, Sendable, CaseIterable {
    case warning
    case breach

    /// The share of the limit, in percent, from which the level is reached.
    public var percent: FixedDecimal {
        switch self {
        case .warning: return 80
        case .breach: return 100
        }
    }

    /// The highest level `used` reaches against `limit` (nil: under 80%). Exact: no division.
    public static func reached(used: FixedDecimal, limit: FixedDecimal) -> LimitLevel? {
        allCases.reversed().first { used * 100 >= limit * $0.percent }
    }
}
