import Foundation
import TMCrypto

/// The client order id sent with an order, derived from the order's idempotency key.
///
/// Guarantees: `derive` is deterministic (same key and broker → same id, in every process and
/// release), uses only `[0-9A-Za-z]`, and fits the broker's rule: Kite and Upstox `tag` ≤ 20
/// characters, Binance `newClientOrderId` `^[a-zA-Z0-9-_]{1,36}$`, Alpaca `client_order_id` ≤ 128.
/// It is the base62 form of SHA-256 over a versioned prefix and the key, cut to the broker's
/// length from its least significant end: 20 characters still carry ~119 bits, so two keys
/// collide with negligible probability.
public enum ClientOrderID {
    /// The longest client id each broker accepts.
    public static func maxLength(for broker: BrokerKind) -> Int {
        switch broker {
        case .kite, .upstox: return 20
        case .binance: return 36
        case .alpaca: return 128
        }
    }

    /// The full base62 rendering of a 256-bit digest has at most 43 digits.
    static let fullLength = 43

    public static func derive(idempotencyKey: String, for broker: BrokerKind) -> String {
        // Domain-separated so the same key hashed elsewhere (e.g. Redis idempotency keys) differs.
        let digest = SHA256Digest.hash("tm.client-order-id.v1\n" + idempotencyKey)
        let digits = base62(digest, width: fullLength)
        return String(digits.suffix(min(fullLength, maxLength(for: broker))))
    }

    /// True when the broker would accept `id` as its client id (length and characters).
    public static func isValid(_ id: String, for broker: BrokerKind) -> Bool {
        guard !id.isEmpty, id.utf8.count <= maxLength(for: broker) else { return false }
        return id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"):
                return true
            default:
                return false
            }
        }
    }

    /// Refuses, before anything is sent, an id the broker would reject (Kite rejects a tag over 20).
    static func validate(_ id: String, for broker: BrokerKind) throws(BrokerError) {
        guard isValid(id, for: broker) else {
            throw .rejected(reason: "client order id must be 1–\(maxLength(for: broker)) characters of [A-Za-z0-9_-] for \(broker.rawValue)",
                            code: "INVALID_CLIENT_ORDER_ID")
        }
    }

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Big-endian bytes as a base62 number, left-padded with zeros to `width` digits. The number is
    /// held in 64-bit limbs, so each digit costs one hardware division per limb (the order path
    /// derives an id per order; byte-wise long division cost microseconds).
    static func base62(_ bytes: [UInt8], width: Int) -> String {
        var limbs = [UInt64](repeating: 0, count: (bytes.count + 7) / 8)
        for (index, byte) in bytes.reversed().enumerated() { limbs[limbs.count - 1 - index / 8] |= UInt64(byte) << (8 * UInt64(index % 8)) }
        var digits: [UInt8] = []
        digits.reserveCapacity(max(width, 44))
        var first = 0
        while first < limbs.count {
            // One long division of the whole number by 62; the remainder is the next digit.
            var remainder: UInt64 = 0
            for index in first..<limbs.count {
                let (quotient, rest) = UInt64(62).dividingFullWidth((high: remainder, low: limbs[index]))
                limbs[index] = quotient
                remainder = rest
            }
            digits.append(alphabet[Int(remainder)])
            while first < limbs.count, limbs[first] == 0 { first += 1 }
        }
        while digits.count < width { digits.append(alphabet[0]) }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }
}
