import Foundation
@testable import TMBrokers
import TMCrypto
import Testing

/// The chunked base62 (ten digits per long division) against the digit-by-digit derivation it
/// replaced: a client order id must never change, or a redelivered order would get a new one.
@Suite struct ClientOrderIDFastPathTests {
    /// The derivation as it was: the whole number divided by 62 once per digit.
    static func referenceBase62(_ bytes: [UInt8], width: Int) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var number = bytes
        var digits: [UInt8] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in number.indices {
                let value = remainder * 256 + Int(number[index])
                number[index] = UInt8(value / 62)
                remainder = value % 62
            }
            digits.append(alphabet[remainder])
        }
        if digits.isEmpty && !bytes.isEmpty { digits.append(alphabet[0]) }
        while digits.count < width { digits.append(alphabet[0]) }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    static func referenceDerive(_ key: String, for broker: BrokerKind) -> String {
        let digits = referenceBase62(SHA256Digest.hash("tm.client-order-id.v1\n" + key), width: 43)
        return String(digits.suffix(min(43, ClientOrderID.maxLength(for: broker))))
    }

    @Test func base62MatchesTheDigitByDigitDivision() {
        var generator = SystemRandomNumberGenerator()
        // Digests, and numbers with zero limbs, short and long, all-zero and all-ones.
        var inputs: [[UInt8]] = [[], [0], [0, 0, 0, 0, 0, 0, 0, 0, 0], [1], [61], [62], [255],
                                 [UInt8](repeating: 255, count: 32), [UInt8](repeating: 0, count: 31) + [1],
                                 [1] + [UInt8](repeating: 0, count: 31), [UInt8](repeating: 255, count: 9)]
        for length in [1, 7, 8, 9, 16, 20, 32, 33, 40] {
            for _ in 0..<200 { inputs.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }) }
        }
        for bytes in inputs {
            for width in [0, 1, 10, 43, 60] {
                #expect(ClientOrderID.base62(bytes, width: width) == Self.referenceBase62(bytes, width: width), "\(bytes) width \(width)")
            }
        }
    }

    @Test func deriveMatchesTheReferenceForEveryBroker() {
        var keys = ["", "k", "pinned", "order:7f3a", "parent-7/child-2", String(repeating: "é", count: 300)]
        for index in 0..<500 { keys.append("bench-\(index)-\(UUID().uuidString)") }
        for key in keys {
            for broker in BrokerKind.allCases {
                #expect(ClientOrderID.derive(idempotencyKey: key, for: broker) == Self.referenceDerive(key, for: broker))
            }
        }
    }
}
