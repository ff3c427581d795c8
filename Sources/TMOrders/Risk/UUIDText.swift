import Foundation

/// A UUID as text, without Foundation's `uuidString` (which formats through `sprintf` on Linux, a
/// large share of a risk check) — on the order path, once or twice per order.
///
/// Guarantees: `upper` is exactly `uuid.uuidString`, `lower` exactly `uuid.uuidString.lowercased()`
/// (8-4-4-4-12 hexadecimal digits).
enum UUIDText {
    static func upper(_ uuid: UUID) -> String { text(uuid, digits: upperDigits) }
    static func lower(_ uuid: UUID) -> String { text(uuid, digits: lowerDigits) }

    private static let upperDigits = Array("0123456789ABCDEF".utf8), lowerDigits = Array("0123456789abcdef".utf8)

    private static func text(_ uuid: UUID, digits: [UInt8]) -> String {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    out[at] = digits[Int(bytes[index] >> 4)]
                    out[at + 1] = digits[Int(bytes[index] & 0x0F)]
                    at += 2
                }
                return at
            }
        }
    }
}
