import Foundation
import TMCore
import TMRouting

/// The router's decision as it is stored with the order (`orders.route` and the ROUTED step): the
/// requested account, every eligible candidate's scores (four decimal places) and the orders sent.
///
/// Guarantees: the text is the same as it has always been — scores are `String(format: "%.4f")`,
/// byte for byte (`fourPlaces`), members in the same order — so stored decisions of old and new
/// releases compare equal; built on the order path, so it formats numbers itself (a `%.4f` through
/// Foundation cost a microsecond per score, five scores per broker).
public enum RouteRecord {
    public static func json(_ route: RouteDecision, requested: UUID) -> JSONValue {
        // Members built as arrays directly: a dictionary literal of `JSONValue` maps its pairs into
        // a second array (an allocation and a copy per object, seven objects per order).
        var scores: [JSONValue] = []
        scores.reserveCapacity(route.scores.count)
        for score in route.scores {
            scores.append(.object([(key: "account_id", value: .string(score.accountID)), (key: "broker", value: .string(score.broker.rawValue)),
                                   (key: "speed", value: .number(fourPlaces(score.speed))), (key: "cost", value: .number(fourPlaces(score.cost))),
                                   (key: "liquidity", value: .number(fourPlaces(score.liquidity))),
                                   (key: "reliability", value: .number(fourPlaces(score.reliability))),
                                   (key: "total", value: .number(fourPlaces(score.total)))]))
        }
        var orders: [JSONValue] = []
        orders.reserveCapacity(route.orders.count)
        for order in route.orders {
            orders.append(.object([(key: "account_id", value: .string(order.accountID)), (key: "broker", value: .string(order.broker.rawValue)),
                                   (key: "quantity", value: .string(order.quantity.description)),
                                   (key: "client_order_id", value: .string(order.clientOrderID)),
                                   (key: "idempotency_key", value: .string(order.idempotencyKey))]))
        }
        return .object([(key: "requested_account_id", value: .string(UUIDText.lower(requested))), (key: "scores", value: .array(scores)),
                        (key: "orders", value: .array(orders)), (key: "split_reason", value: route.splitReason.map { .string($0) } ?? .null)])
    }

    /// `String(format: "%.4f", value)`, exactly: the binary value rounded to four places, a tie to
    /// the even digit (as glibc's printf does, in the default rounding mode). Worked out in integers
    /// for 0 ≤ value < 10⁹ (every score); anything else goes to `String(format:)` itself.
    public static func fourPlaces(_ value: Double) -> String {
        guard value.isFinite, value.sign == .plus, value < 1e9 else { return String(format: "%.4f", value) }
        // value = significand × 2^exponent exactly; value × 10⁴ = significand × 10⁴ × 2^exponent.
        let bits = value.bitPattern
        let biased = Int((bits >> 52) & 0x7FF), fraction = bits & ((1 << 52) - 1)
        let significand = biased == 0 ? fraction : fraction | (1 << 52)
        let exponent = (biased == 0 ? 1 : biased) - 1075
        let scaled = UInt128(significand) * 10_000  // < 2^67
        var units: UInt128
        if exponent >= 0 {
            units = scaled << exponent  // value < 10⁹: under 2^44
        } else if -exponent >= 100 {
            units = 0  // value × 10⁴ < 2^-33: rounds to zero
        } else {
            let shift = -exponent
            units = scaled >> shift
            let rest = scaled & ((UInt128(1) << shift) - 1), half = UInt128(1) << (shift - 1)
            if rest > half || (rest == half && units & 1 == 1) { units += 1 }
        }
        let whole = UInt64(units / 10_000), decimals = Int(units % 10_000)
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { buffer in
            // Right to left: four decimals, the point, the whole part (at least one digit).
            var end = buffer.count, rest = decimals
            for _ in 0..<4 {
                end -= 1
                buffer[end] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            end -= 1
            buffer[end] = UInt8(ascii: ".")
            var number = whole
            repeat {
                end -= 1
                buffer[end] = UInt8(ascii: "0") + UInt8(number % 10)
                number /= 10
            } while number > 0
            return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[end...]), as: UTF8.self)
        }
    }
}
