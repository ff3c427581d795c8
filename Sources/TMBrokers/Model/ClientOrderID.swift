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

    /// The hashed prefix, as bytes (built once).
    private static let prefix = Array("tm.client-order-id.v1\n".utf8)

    public static func derive(idempotencyKey: String, for broker: BrokerKind) -> String {
        // Domain-separated so the same key hashed elsewhere (e.g. Redis idempotency keys) differs.
        var input = prefix
        input.append(contentsOf: idempotencyKey.utf8)
        return base62(SHA256Digest.hash(input), width: fullLength, last: min(fullLength, maxLength(for: broker)))
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

    /// 62^10, the largest power of 62 below 2^64: the number is divided by it, not by 62, so a
    /// 256-bit digest takes five long divisions (of four limbs each) instead of 43, and each
    /// quotient's remainder gives ten digits by plain 64-bit arithmetic.
    private static let chunk: UInt64 = 839_299_365_868_340_224

    /// Big-endian bytes as a base62 number, left-padded with zeros to `width` digits; only its
    /// `last` digits (the least significant ones; all of them when nil) are returned, and only
    /// those are worked out. The number is held in 64-bit limbs on the stack (the order path
    /// derives an id per order; byte-wise long division and heap arrays cost microseconds).
    static func base62(_ bytes: [UInt8], width: Int, last: Int? = nil) -> String {
        let limbCount = (bytes.count + 7) / 8
        // Ten digits per long division; enough room for every digit of the number and the padding.
        let room = max(width, (limbCount * 64 + 58) / 59 * 10 + 10)
        // Digits past `last` are not returned: stop once they are all there (zeros pad the rest).
        let needed = last.map { $0 <= width ? $0 : room } ?? room
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(limbCount, 1)) { limbs in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: room) { digits in
                limbs.initialize(repeating: 0)
                digits.initialize(repeating: alphabet[0])
                for index in 0..<bytes.count {
                    let fromEnd = bytes.count - 1 - index
                    limbs[limbCount - 1 - fromEnd / 8] |= UInt64(bytes[index]) << (8 * UInt64(fromEnd % 8))
                }
                // Digits least significant first, until the number is zero (or enough are there).
                var count = 0, first = 0, significant = 0
                while first < limbCount, count < needed {
                    var remainder: UInt64 = 0
                    for index in first..<limbCount {
                        let (quotient, rest) = chunk.dividingFullWidth((high: remainder, low: limbs[index]))
                        limbs[index] = quotient
                        remainder = rest
                    }
                    while first < limbCount, limbs[first] == 0 { first += 1 }
                    for _ in 0..<10 {
                        if remainder != 0 { significant = count + 1 }
                        digits[count] = alphabet[Int(remainder % 62)]
                        remainder /= 62
                        count += 1
                    }
                }
                let length = max(width, significant, limbCount == 0 ? 0 : 1)
                let kept = min(last ?? length, length)
                return String(unsafeUninitializedCapacity: kept) { buffer in
                    for index in 0..<kept { buffer[index] = digits[kept - 1 - index] }
                    return kept
                }
            }
        }
    }
}
