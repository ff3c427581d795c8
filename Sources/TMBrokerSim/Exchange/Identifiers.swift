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
        return uuidText(hex: hexDigits(generator.next()) + hexDigits(generator.next()), version: "4", variant: "8")
    }

    /// `%016llx` of `value`, as bytes.
    static func hexDigits(_ value: UInt64) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return (0..<16).map { digits[Int((value >> (60 - 4 * UInt64($0))) & 0xF)] }
    }

    /// 32 hex digits as a UUID, `xxxxxxxx-xxxx-Vxxx-Rxxx-xxxxxxxxxxxx`, with the version and
    /// variant digits replacing the 13th and 17th.
    static func uuidText(hex: [UInt8], version: Unicode.Scalar, variant: Unicode.Scalar) -> String {
        let dash = UInt8(ascii: "-")
        var bytes = Array(hex[0..<8])
        bytes.append(dash)
        bytes += hex[8..<12]
        bytes += [dash, UInt8(version.value)]
        bytes += hex[13..<16]
        bytes += [dash, UInt8(variant.value)]
        bytes += hex[17..<20]
        bytes.append(dash)
        bytes += hex[20..<32]
        return String(decoding: bytes, as: UTF8.self)
    }
}
