import Foundation
import TMCore

/// Lowercase hexadecimal encoding, as used by Binance signatures and lock tokens.
///
/// Guarantees: `encode` always yields lowercase; `decode` accepts either case and returns nil for
/// odd lengths or non-hex characters rather than guessing.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ string: String) -> [UInt8]? {
        let chars = Array(string.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = HexDigit.value(chars[i]), let lo = HexDigit.value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// Standard base64 (RFC 4648 §4, padded), as used for `TM_SECRET_KEY`.
///
/// Guarantees: `decode` ignores surrounding whitespace (keys pasted from files end in newlines) and
/// returns nil for anything else that is not canonical padded base64.
public enum Base64 {
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        Data(bytes).base64EncodedString()
    }

    public static func decode(_ string: String) -> [UInt8]? {
        let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, let data = Data(base64Encoded: trimmed) else { return nil }
        return [UInt8](data)
    }
}

/// URL-safe base64 without padding (RFC 4648 §5), as used in the sealed text form.
///
/// Guarantees: output contains only `A–Z a–z 0–9 - _`, so it never collides with the `.` separators
/// of the sealed form; `decode` rejects any other character (including `=`, `+`, `/`).
public enum Base64URL {
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var s = Data(bytes).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return String(s.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
    }

    public static func decode(_ string: String) -> [UInt8]? {
        var standard = ""
        standard.reserveCapacity(string.utf8.count + 3)
        for c in string.unicodeScalars {
            switch c {
            case "A"..."Z", "a"..."z", "0"..."9": standard.unicodeScalars.append(c)
            case "-": standard.append("+")
            case "_": standard.append("/")
            default: return nil
            }
        }
        // A remainder of 1 can never come from whole bytes.
        switch standard.utf8.count % 4 {
        case 0: break
        case 2: standard += "=="
        case 3: standard += "="
        default: return nil
        }
        guard let data = Data(base64Encoded: standard) else { return nil }
        return [UInt8](data)
    }
}
