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
    public static func upper(_ uuid: UUID) -> String { text(uuid, digits: "0123456789ABCDEF") }
    public static func lower(_ uuid: UUID) -> String { text(uuid, digits: "0123456789abcdef") }

    /// `lower`'s 36 bytes appended to `out`: written on the stack, then appended at once (one
    /// capacity check, not 36; ~1,000 instructions a UUID before).
    public static func appendLower(_ uuid: UUID, to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { buffer in
            write(uuid, digits: "0123456789abcdef", to: buffer.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(buffer))
        }
    }

    /// Whether `a` sorts before `b` as their texts do (`a.uuidString < b.uuidString`, and the same
    /// in lower case), read from the bytes: hexadecimal digits sort as their values in either case
    /// ("0"–"9" before the letters), the dashes stand at the same places in every UUID, so the
    /// first differing digit — the first differing nibble — decides, as the first differing byte.
    /// (`uuidString` formats through `sprintf`: ~6,000 instructions a call, two a comparison.)
    public static func precedes(_ a: UUID, _ b: UUID) -> Bool {
        withUnsafeBytes(of: a.uuid) { left in
            withUnsafeBytes(of: b.uuid) { right in
                for index in 0..<16 where left[index] != right[index] { return left[index] < right[index] }
                return false
            }
        }
    }

    private static func text(_ uuid: UUID, digits: StaticString) -> String {
        String(unsafeUninitializedCapacity: 36) { out in
            write(uuid, digits: digits, to: out.baseAddress!)
            return 36
        }
    }

    /// The 36 bytes of the 8-4-4-4-12 text at `out`, each nibble spelt by `digits` (16 bytes).
    private static func write(_ uuid: UUID, digits: StaticString, to out: UnsafeMutablePointer<UInt8>) {
        let digits = digits.utf8Start
        withUnsafeBytes(of: uuid.uuid) { bytes in
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

    /// The 8-4-4-4-12 form only: the four hyphens checked first, then each byte's two digits read
    /// from `nibbles`, every digit's validity folded into one test at the end — no bounds check,
    /// optional or branch per byte (a branch on digit-or-letter mispredicts on random hex: the
    /// earlier reader cost ~0.6–1 µs a UUID, this one ~0.1; PROFILE.md, session 27 (store)). A uuid
    /// column of every order-path row and every command id pass here.
    private static func canonical(_ bytes: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard bytes.count == 36, let text = bytes.baseAddress else { return nil }
        let hyphen = UInt8(ascii: "-")
        guard text[8] == hyphen, text[13] == hyphen, text[18] == hyphen, text[23] == hyphen else { return nil }
        return nibbles.withUnsafeBufferPointer { nibbles in
            var invalid: UInt8 = 0
            func byte(at index: Int) -> UInt8 {
                let high = nibbles[Int(text[index])], low = nibbles[Int(text[index &+ 1])]
                invalid |= high | low
                return high &<< 4 | low
            }
            let raw: uuid_t = (byte(at: 0), byte(at: 2), byte(at: 4), byte(at: 6), byte(at: 9), byte(at: 11), byte(at: 14), byte(at: 16),
                               byte(at: 19), byte(at: 21), byte(at: 24), byte(at: 26), byte(at: 28), byte(at: 30), byte(at: 32), byte(at: 34))
            return invalid & 0xF0 == 0 ? UUID(uuid: raw) : nil
        }
    }

    /// Each byte's value as a hexadecimal digit (either case), 0xFF for any other byte.
    private static let nibbles: [UInt8] = (0...255).map { byte in HexDigit.value(UInt8(byte)) ?? 0xFF }

    /// The 8-4-4-4-12 layout: a dash before bytes 4, 6, 8 and 10.
    private static func dashBefore(_ index: Int) -> Bool { index == 4 || index == 6 || index == 8 || index == 10 }
}
