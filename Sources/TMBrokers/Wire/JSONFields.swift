import Foundation
import TMCore
import TMHTTP

/// One JSON object from a broker, read field by field; every missing or malformed field becomes
/// `BrokerError.invalidResponse` naming the object and the field (never its value, which may be
/// account data).
///
/// Guarantees: `decimal` reads numbers and numeric strings through `DecimalText` (TMCore, exact);
/// `optional...` readers treat a missing field, `null` and `""` alike as absent, but a present
/// malformed value is still an error, never silently dropped.
struct JSONFields: Sendable {
    let members: [String: JSONValue]
    /// What the object is, for error messages: `kite order`, `binance trade`.
    let context: String

    init(_ value: JSONValue, context: String) throws(BrokerError) {
        guard let members = value.objectMembers else { throw .invalidResponse(reason: "\(context): expected a JSON object") }
        self.members = members
        self.context = context
    }

    func has(_ key: String) -> Bool { optionalValue(key) != nil }

    func missing(_ key: String) -> BrokerError { .invalidResponse(reason: "\(context): field '\(key)' is missing") }
    func malformed(_ key: String, _ expected: String) -> BrokerError {
        .invalidResponse(reason: "\(context): field '\(key)' is not \(expected)")
    }

    /// The value unless it is missing, null or an empty string.
    func optionalValue(_ key: String) -> JSONValue? {
        switch members[key] {
        case nil, .null?, .string("")?: return nil
        case let value?: return value
        }
    }

    func text(_ key: String) throws(BrokerError) -> String {
        guard let value = optionalValue(key) else { throw missing(key) }
        guard let text = value.scalarText else { throw malformed(key, "text") }
        return text
    }

    func optionalText(_ key: String) throws(BrokerError) -> String? {
        guard let value = optionalValue(key) else { return nil }
        guard let text = value.scalarText else { throw malformed(key, "text") }
        return text
    }

    func decimal(_ key: String) throws(BrokerError) -> Decimal {
        guard let value = try optionalDecimal(key) else { throw missing(key) }
        return value
    }

    func optionalDecimal(_ key: String) throws(BrokerError) -> Decimal? {
        guard let value = optionalValue(key) else { return nil }
        guard let text = value.scalarText, let decimal = DecimalText.parse(text) else { throw malformed(key, "a decimal number") }
        return decimal
    }

    func bool(_ key: String) throws(BrokerError) -> Bool? {
        guard let value = optionalValue(key) else { return nil }
        guard case .bool(let flag) = value else { throw malformed(key, "true or false") }
        return flag
    }

    func array(_ key: String) throws(BrokerError) -> [JSONValue] {
        guard let value = members[key], !value.isNull else { throw missing(key) }
        guard let items = value.arrayValue else { throw malformed(key, "an array") }
        return items
    }

    /// The array under `key` as objects (`context` names one element).
    func rows(_ key: String, context: String) throws(BrokerError) -> [JSONFields] {
        try JSONValue.array(try array(key)).rows(context: context)
    }

    func object(_ key: String) throws(BrokerError) -> JSONFields {
        guard let value = optionalValue(key) else { throw missing(key) }
        return try JSONFields(value, context: "\(context).\(key)")
    }

    /// A time stamp in the broker's format (`parse` is one of `WireTime`'s readers).
    func date(_ key: String, _ parse: (String) -> Date?) throws(BrokerError) -> Date {
        guard let date = try optionalDate(key, parse) else { throw missing(key) }
        return date
    }

    func optionalDate(_ key: String, _ parse: (String) -> Date?) throws(BrokerError) -> Date? {
        guard let text = try optionalText(key) else { return nil }
        guard let date = parse(text) else { throw malformed(key, "a time stamp in the broker's format") }
        return date
    }

    /// The field mapped through a table of the broker's words (`BUY` → `.buy`), case-insensitively.
    func word<T>(_ key: String, _ table: [String: T]) throws(BrokerError) -> T {
        let raw = try text(key)
        guard let value = table[raw.lowercased()] else { throw malformed(key, "a known value") }
        return value
    }
}

extension JSONValue {
    /// The response body as JSON, or `invalidResponse` saying what it was meant to be.
    static func body(of response: HTTPResponse, context: String) throws(BrokerError) -> JSONValue {
        do {
            return try response.body.withUnsafeBytes { try JSONValue.parse(utf8: $0) }
        } catch {
            let detail = (error as? JSONValue.ParseError).map { " (\($0.reason) at byte \($0.offset))" } ?? ""
            throw .invalidResponse(reason: "\(context): HTTP \(response.status) body is not JSON\(detail)")
        }
    }

    /// This array's elements as objects (`context` names one element), or `invalidResponse`.
    func rows(context: String) throws(BrokerError) -> [JSONFields] {
        guard let items = arrayValue else { throw .invalidResponse(reason: "\(context): expected an array of them") }
        var out: [JSONFields] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try JSONFields(item, context: context)) }
        return out
    }
}
