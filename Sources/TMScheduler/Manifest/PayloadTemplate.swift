import Foundation
import Yams

/// A schedule's message body: a YAML mapping turned into JSON, whose string values may name the
/// slot: `{{slot}}` (ISO 8601 UTC), `{{slot_local}}` (ISO 8601 with the zone's offset),
/// `{{slot_unix}}` (seconds), `{{schedule}}` (the name).
///
/// Guarantees: a template that parsed renders to valid JSON for every slot; placeholders are
/// checked when parsing (a misspelt `{{slots}}` is refused, never sent verbatim); numbers keep
/// the digits they were written with (no floating-point round trip); keys keep their order.
public indirect enum PayloadTemplate: Sendable {
    case object([(String, PayloadTemplate)])
    case array([PayloadTemplate])
    /// Text with placeholders.
    case text(String)
    /// A JSON literal: a number, true, false or null, as written.
    case literal(String)

    public static let placeholders = ["slot", "slot_local", "slot_unix", "schedule"]

    /// `{"schedule": "{{schedule}}", "slot": "{{slot}}"}`: the message of a schedule without a payload.
    public static let defaultMessage = PayloadTemplate.object([("schedule", .text("{{schedule}}")), ("slot", .text("{{slot}}"))])

    /// Builds the template from a YAML node, failing with the field path (e.g. `payload.window.from`).
    public static func parse(_ node: Node, field: String, fail: (String, String) -> any Error) throws -> PayloadTemplate {
        switch node {
        case .mapping(let mapping):
            var members: [(String, PayloadTemplate)] = []
            for (key, value) in mapping {
                guard let name = key.scalar?.string, !name.isEmpty else { throw fail(field, "keys must be non-empty text") }
                members.append((name, try parse(value, field: "\(field).\(name)", fail: fail)))
            }
            return .object(members)
        case .sequence(let sequence):
            return .array(try sequence.enumerated().map { try parse($1, field: "\(field)[\($0)]", fail: fail) })
        case .scalar(let scalar):
            return try parse(scalar, field: field, fail: fail)
        case .alias:
            throw fail(field, "YAML anchors and aliases are not supported in a payload")
        }
    }

    private static func parse(_ scalar: Node.Scalar, field: String, fail: (String, String) -> any Error) throws -> PayloadTemplate {
        // Quoted values are always text; plain ones follow YAML's core schema, as a reader expects.
        if scalar.style == .plain {
            switch Node.scalar(scalar).tag {
            case Tag(.null): return .literal("null")
            case Tag(.bool): return .literal(Node.scalar(scalar).bool == true ? "true" : "false")
            case Tag(.int), Tag(.float):
                let text = scalar.string.replacingOccurrences(of: "_", with: "")
                guard (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) is NSNumber else {
                    throw fail(field, "'\(scalar.string)' is not a JSON number (write it in quotes to send it as text)")
                }
                return .literal(text)
            default: break
            }
        }
        var rest = Substring(scalar.string)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { throw fail(field, "'{{' is never closed with '}}'") }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard placeholders.contains(name) else {
                throw fail(field, "unknown placeholder {{\(name)}} (known: \(placeholders.map { "{{\($0)}}" }.joined(separator: ", ")))")
            }
            rest = rest[close.upperBound...]
        }
        return .text(scalar.string)
    }

    /// The JSON document for `slot`.
    public func render(_ slot: Slot) -> [UInt8] {
        var out = ""
        write(into: &out, slot)
        return Array(out.utf8)
    }

    private func write(into out: inout String, _ slot: Slot) {
        switch self {
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                out += Self.quoted(key) + ":"
                value.write(into: &out, slot)
            }
            out += "}"
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(into: &out, slot)
            }
            out += "]"
        case .text(let text):
            out += Self.quoted(Self.substitute(text, slot))
        case .literal(let literal):
            out += literal
        }
    }

    static func substitute(_ text: String, _ slot: Slot) -> String {
        guard text.contains("{{") else { return text }
        let values = ["slot": slot.utc, "slot_local": slot.local, "slot_unix": String(slot.unix), "schedule": slot.schedule]
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            result += rest[..<open.lowerBound]
            result += values[rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)] ?? ""
            rest = rest[close.upperBound...]
        }
        return result + rest
    }

    /// A JSON string literal (JSONEncoder escapes exactly as JSON requires).
    static func quoted(_ text: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return String(decoding: (try? encoder.encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
