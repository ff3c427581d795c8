import Foundation

/// A parsed JSON document that keeps every number as the exact text the broker sent.
///
/// Guarantees: a number is never converted through `Double` — `.number("12345678901234.12345678")`
/// holds the literal, so prices and quantities reach `Decimal` exactly (see `ExactDecimal`); object
/// keys are unique (a repeated key keeps its last value, as most parsers do).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The literal as it appeared, already checked against JSON's number grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member named `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// A string's value, or a number's literal (brokers send ids both ways).
    public var text: String? {
        switch self {
        case .string(let s), .number(let s): return s
        default: return nil
        }
    }

    public var isNull: Bool { self == .null }
}
