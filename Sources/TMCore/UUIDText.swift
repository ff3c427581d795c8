import Foundation

/// A UUID as text, without Foundation's `uuidString` (which formats through `sprintf` on Linux, a
/// large share of a risk check) or `UUID(uuidString:)` (which parses through `sscanf`) — on the
/// order path, several times per order.
///
/// Guarantees: `upper` is exactly `uuid.uuidString`, `lower` exactly `uuid.uuidString.lowercased()`
/// (8-4-4-4-12 hexadecimal digits); `parse` accepts exactly what `UUID(uuidString:)` accepts (36
/// characters, hyphens at 8, 13, 18 and 23, hexadecimal digits of either case elsewhere) and gives
/// the same UUID.
public enum UUIDText {
    public static func upper(_ uuid: UUID) -> String { text(uuid, digits: upperDigits) }
    public static func lower(_ uuid: UUID) -> String { text(uuid, digits: lowerDigits) }

    private static let upperDigits = Array("0123456789ABCDEF".utf8), lowerDigits = Array("0123456789abcdef".utf8)

    /// `lower`'s 36 bytes appended to `out`.
    public static func appendLower(_ uuid: UUID, to out: inout [UInt8]) {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            for index in 0..<16 {
                if dashBefore(index) { out.append(UInt8(ascii: "-")) }
                out.append(lowerDigits[Int(bytes[index] >> 4)])
                out.append(lowerDigits[Int(bytes[index] & 0x0F)])
            }
        }
    }

    private static func text(_ uuid: UUID, digits: [UInt8]) -> String {
        withUnsafeBytes(of: uuid.uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var at = 0
                for index in 0..<16 {
                    if dashBefore(index) {
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

    public static func parse(_ text: String) -> UUID? {
        // Foundation's sscanf also takes a sign, `0x` or spaces inside a group: such rare text is
        // left to it, so both accept the same.
        var utf8 = text
        return utf8.withUTF8(canonical) ?? UUID(uuidString: text)
    }

    /// `parse` of UTF-8 text (a result column's bytes): no `String` made for the canonical form.
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> UUID? {
        canonical(bytes) ?? UUID(uuidString: String(decoding: bytes, as: UTF8.self))
    }

    /// The 8-4-4-4-12 form only.
    private static func canonical(_ bytes: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard bytes.count == 36 else { return nil }
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &raw) { out -> Bool in
            var at = 0
            for index in 0..<16 {
                if dashBefore(index) {
                    guard bytes[at] == UInt8(ascii: "-") else { return false }
                    at += 1
                }
                guard let high = HexDigit.value(bytes[at]), let low = HexDigit.value(bytes[at + 1]) else { return false }
                out[index] = high << 4 | low
                at += 2
            }
            return true
        }
        return parsed ? UUID(uuid: raw) : nil
    }

    /// The 8-4-4-4-12 layout: a dash before bytes 4, 6, 8 and 10.
    private static func dashBefore(_ index: Int) -> Bool { index == 4 || index == 6 || index == 8 || index == 10 }
}
