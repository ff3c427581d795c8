import Foundation
import TMCore
import TMPostgres

/// Bytes for text-format COPY written straight into the COPY buffer: a report's JSON (what
/// `JSONValue.text` would give, already escaped for COPY) and exact decimals, without building a
/// `String` per value — building the JSON as a String first was half of the write's CPU.
enum CopyEncoding {
    private static let backslash = UInt8(ascii: "\\")

    /// `value` as compact JSON (member order kept, numbers as written), COPY-escaped: every
    /// backslash the JSON holds is doubled, and JSON never holds a raw tab or newline.
    static func appendJSON(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out += "null".utf8
        case .bool(let flag): out += (flag ? "true" : "false").utf8
        case .number(let literal): appendCopyEscaped(literal, to: &out)
        case .string(let text): appendJSONString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSON(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendJSONString(member.key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendJSON(member.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string literal, COPY-escaped: `"` → `\\"`, `\` → `\\\\`, control characters → `\\n`,
    /// `\\u00XX` etc. (the JSON escape with its backslash doubled for COPY).
    static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == backslash else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                out.append(backslash)
                out.append(backslash)
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case backslash: out.append(backslash); out.append(backslash)
                case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out += "u00".utf8
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 0xF)])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Plain text with COPY's escapes (backslash, tab, newline, carriage return).
    static func appendCopyEscaped(_ text: String, to out: inout [UInt8]) {
        PostgresCopyText.appendEscaped(text, to: &out)
    }

    /// An exact decimal as `FixedDecimal.description` writes it (`-12.5`, `0.000000001`, `3`).
    static func appendDecimal(_ value: FixedDecimal, to out: inout [UInt8]) {
        var magnitude = value.units.magnitude
        if value.units < 0 { out.append(UInt8(ascii: "-")) }
        let one: UInt128 = 1_000_000_000
        let whole = magnitude / one
        var fraction = UInt64(magnitude % one)
        magnitude = whole
        // Whole part: digits into a small buffer, most significant first.
        if magnitude == 0 {
            out.append(UInt8(ascii: "0"))
        } else {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buffer in
                var count = 0
                while magnitude > 0 {
                    buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                    magnitude /= 10
                    count += 1
                }
                for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
            }
        }
        guard fraction != 0 else { return }
        var places = 9
        while fraction % 10 == 0 {
            fraction /= 10
            places -= 1
        }
        out.append(UInt8(ascii: "."))
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 9) { buffer in
            for i in stride(from: places - 1, through: 0, by: -1) {
                buffer[i] = UInt8(ascii: "0") + UInt8(fraction % 10)
                fraction /= 10
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<places]))
        }
    }
}
