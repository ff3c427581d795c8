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

    /// The engine's report JSON (`AnalyticsEngine.writeJSON`), COPY-escaped: written in place, then
    /// every backslash it holds doubled (JSON holds no raw tab or newline; a backslash only in a
    /// string's escape, which no engine-made string needs, so the rewrite almost never runs).
    static func appendReportJSON(_ report: AnalyticsReport, to out: inout [UInt8]) {
        let start = out.count
        AnalyticsEngine.writeJSON(report, into: &out)
        guard out[start...].contains(backslash) else { return }
        let written = Array(out[start...])
        out.removeSubrange(start...)
        for byte in written {
            out.append(byte)
            if byte == backslash { out.append(backslash) }
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
}
