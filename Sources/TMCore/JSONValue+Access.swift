import Foundation

/// Reading and building `JSONValue`s without a `switch` at every use: the accessors the broker
/// adapters (TMBrokers) and the broker simulator (TMBrokerSim) share, kept here once so that
/// code importing both never sees two same-named members.
///
/// Guarantees: each accessor returns nil for any other kind of value (never a conversion, except
/// that `intValue` also reads a numeric string); `decimal` writes the exact digits of a `Decimal`,
/// never through `Double`.
extension JSONValue {
    /// A JSON number with the decimal's exact digits (`DecimalText.plain`).
    public static func decimal(_ value: Decimal) -> JSONValue { .number(DecimalText.plain(value)) }

    public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A string, or null when nil.
    public static func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }

    /// An object's members in document order (repeated names included).
    public var objectFields: [(key: String, value: JSONValue)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// A whole number given as a JSON number or a numeric string (brokers send ids both ways).
    public var intValue: Int? {
        switch self {
        case .number(let text), .string(let text): return Int(text)
        default: return nil
        }
    }
}

/// Literals, so a response reads like the JSON it stands for (the simulator writes whole broker
/// responses this way). A dictionary literal keeps its order: fields come out as written.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements.map { (key: $0.0, value: $0.1) }) }
    public init(nilLiteral: ()) { self = .null }
}
