/// What a broker call is, for its rate limits: brokers count order placement separately, and Kite
/// its quote endpoints (`/quote`, `/quote/ltp`, `/quote/ohlc`) too.
public enum BrokerCallKind: String, Sendable {
    case order, read
    /// A price quote: a budget of its own at Kite; elsewhere a read like any other (the same budget).
    case quote
}

/// The brokers' published limits (REFERENCE.md), per API key.
public enum BrokerRateLimits {
    public static func limits(_ broker: BrokerKind, _ kind: BrokerCallKind) -> [RateLimit] {
        switch (broker, kind) {
        case (.kite, .order): return [RateLimit(10, per: .seconds(1)), RateLimit(400, per: .seconds(60)), RateLimit(5000, per: .seconds(86_400))]
        case (.kite, .read): return [RateLimit(10, per: .seconds(1))]
        // Kite documents 1 quote request per second. The window is 1.1 s: a request that left
        // Redis's grant up to 100 ms later than the next one still reaches Kite a second after it.
        case (.kite, .quote): return [RateLimit(1, per: .milliseconds(1100))]
        case (.upstox, .order): return [RateLimit(10, per: .seconds(1)), RateLimit(500, per: .seconds(60))]
        case (.upstox, .read), (.upstox, .quote): return [RateLimit(50, per: .seconds(1))]
        // Alpaca counts every request against one budget.
        case (.alpaca, _): return [RateLimit(200, per: .seconds(60))]
        // Binance: orders 50 per 10 s per account; requests kept well under the 6,000 weight/min.
        case (.binance, .order): return [RateLimit(50, per: .seconds(10))]
        case (.binance, .read), (.binance, .quote): return [RateLimit(1200, per: .seconds(60))]
        }
    }

    /// The shared budget's name: one per broker, key and call kind (Alpaca shares one across kinds;
    /// a quote is a read except at Kite, whose quotes have a budget of their own).
    public static func budget(_ broker: BrokerKind, key: String, _ kind: BrokerCallKind) -> String {
        if broker == .alpaca { return "alpaca:\(key)" }
        let kind = kind == .quote && broker != .kite ? .read : kind
        return "\(broker.rawValue):\(key):\(kind.rawValue)"
    }
}
