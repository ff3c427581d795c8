import Foundation
import TMCore

/// Reads an admin request's JSON body field by field; every refusal names the field and the reason.
///
/// Guarantees: a body that is not a JSON object, a field of the wrong type or range, or (with
/// `allowing`) a field the endpoint does not know is an `AdminRejection` (400), never a crash.
struct AdminInput {
    let fields: JSONValue

    init(_ body: Data, allowing known: Set<String>) throws(AdminRejection) {
        let parsed: JSONValue
        if body.isEmpty {
            parsed = .object([])
        } else {
            do { parsed = try JSONValue.parse(body) } catch { throw AdminRejection(field: "body", reason: "\(error)") }
        }
        guard let object = parsed.objectFields else { throw AdminRejection(field: "body", reason: "must be a JSON object") }
        if let unknown = object.first(where: { !known.contains($0.0) }) {
            throw AdminRejection(field: unknown.0, reason: "unknown field; expected one of \(known.sorted().joined(separator: ", "))")
        }
        fields = parsed
    }

    private func present(_ name: String) -> JSONValue? {
        guard let value = fields[name], !value.isNull else { return nil }
        return value
    }

    func string(_ name: String) throws(AdminRejection) -> String? {
        guard let value = present(name) else { return nil }
        guard let text = value.stringValue else { throw AdminRejection(field: name, reason: "must be a string") }
        return text
    }

    func requiredString(_ name: String) throws(AdminRejection) -> String {
        guard let text = try string(name), !text.isEmpty else { throw AdminRejection(field: name, reason: "is required") }
        return text
    }

    func broker(_ name: String = "broker") throws(AdminRejection) -> Broker {
        let text = try requiredString(name)
        guard let broker = Broker(rawValue: text) else {
            throw AdminRejection(field: name, reason: "unknown broker \(text); expected kite, upstox, alpaca or binance")
        }
        return broker
    }

    /// A decimal given as a JSON number or a string (`"101.5"`).
    func decimal(_ name: String) throws(AdminRejection) -> Decimal? {
        guard let value = present(name) else { return nil }
        guard let number = value.decimalValue else { throw AdminRejection(field: name, reason: "must be a decimal number or a string holding one") }
        return number
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws(AdminRejection) -> Int? {
        guard let value = present(name) else { return nil }
        guard let number = value.intValue else { throw AdminRejection(field: name, reason: "must be a whole number") }
        guard range.contains(number) else { throw AdminRejection(field: name, reason: "must be between \(range.lowerBound) and \(range.upperBound)") }
        return number
    }

    func fraction(_ name: String) throws(AdminRejection) -> Double? {
        guard let value = try decimal(name) else { return nil }
        guard value >= 0, value <= 1 else { throw AdminRejection(field: name, reason: "must be between 0 and 1") }
        return NSDecimalNumber(decimal: value).doubleValue  // a probability, not money
    }

    func bool(_ name: String) throws(AdminRejection) -> Bool? {
        guard let value = present(name) else { return nil }
        guard let flag = value.boolValue else { throw AdminRejection(field: name, reason: "must be true or false") }
        return flag
    }

    func strings(_ name: String) throws(AdminRejection) -> [String]? {
        guard let value = present(name) else { return nil }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            throw AdminRejection(field: name, reason: "must be an array of strings")
        }
        return items.compactMap(\.stringValue)
    }
}

extension AdminRejection {
    var response: HTTPServerResponse {
        .json(status, ["error": .string("\(field): \(reason)"), "field": .string(field), "reason": .string(reason)])
    }
}
