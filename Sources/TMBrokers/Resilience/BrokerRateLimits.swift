/// What a broker call is, for its rate limits: brokers count order placement separately.
public enum BrokerCallKind: String, Sendable {
    case order, read
}

/// The brokers' published limits (REFERENCE.md), per API key.
public enum BrokerRateLimits {
    public static func limits(_ broker: BrokerKind, _ kind: BrokerCallKind) -> [RateLimit] {
        switch (broker, kind) {
        case (.kite, .order): return [RateLimit(10, per: .seconds(1)), RateLimit(400, per: .seconds(60)), RateLimit(5000, per: .seconds(86_400))]
        case (.kite, .read): return [RateLimit(10, per: .seconds(1))]
        case (.upstox, .order): return [RateLimit(10, per: .seconds(1)), RateLimit(500, per: .seconds(60))]
        case (.upstox, .read): return [RateLimit(50, per: .seconds(1))]
        // Alpaca counts every request against one budget.
        case (.alpaca, _): return [RateLimit(200, per: .seconds(60))]
        // Binance: orders 50 per 10 s per account; requests kept well under the 6,000 weight/min.
        case (.binance, .order): return [RateLimit(50, per: .seconds(10))]
        case (.binance, .read): return [RateLimit(1200, per: .seconds(60))]
        }
    }

    /// The shared budget's name: one per broker, key and call kind (Alpaca shares one across kinds).
    public static func budget(_ broker: BrokerKind, key: String, _ kind: BrokerCallKind) -> String {
        broker == .alpaca ? "alpaca:\(key)" : "\(broker.rawValue):\(key):\(kind.rawValue)"
    }
}
