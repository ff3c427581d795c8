/// One hexadecimal digit's value, for the parsers of hex text (`Hex.decode`, bytea's `\x` form,
/// UUID text).
///
/// Guarantees: `0`–`9`, `a`–`f` and `A`–`F` give 0–15; every other byte gives nil.
public enum HexDigit {
    @inline(__always)
    public static func value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
