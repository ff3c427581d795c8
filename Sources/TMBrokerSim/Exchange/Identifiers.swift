import Foundation

/// How each broker spells order and trade ids, so the simulator's ids look like the real ones.
///
/// Guarantees: ids are unique per account (they derive from numbers the exchange never reuses) and,
/// for trades, sort in the order the trades happened (Alpaca pages by activity id).
enum Identifiers {
    static func orderID(_ broker: Broker, number: Int, apiKey: String) -> String {
        switch broker {
        case .kite: return String(240_000_000_000_000 + number)
        case .upstox: return String(231_000_000_000_000 + number)
        case .alpaca: return uuid(apiKey, "order", number)
        case .binance: return String(number)
        }
    }

    static func tradeID(_ broker: Broker, number: Int, apiKey: String, time: Date) -> String {
        switch broker {
        case .kite, .upstox: return String(50_000_000 + number)
        case .binance: return String(number)
        case .alpaca:
            // Alpaca activity ids: a UTC timestamp to the millisecond, "::", a UUID.
            return "\(Timestamps.compactUTC(time))::\(uuid(apiKey, "fill", number))"
        }
    }

    /// A UUID-shaped id that is a pure function of its inputs.
    static func uuid(_ apiKey: String, _ kind: String, _ number: Int) -> String {
        var generator = SplitMix64(seed: 0)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(apiKey)/\(kind)/\(number)".utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        generator = SplitMix64(seed: hash)
        let hex = String(format: "%016llx%016llx", generator.next(), generator.next())
        let c = Array(hex)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-8\(String(c[17..<20]))-\(String(c[20..<32]))"
    }
}
