import Foundation
import TMCore
import Yams

/// Typed, path-aware access to a YAML mapping, so every error names the full field path. Shared by
/// every manifest format (queues, schedules), so they refuse bad values the same way.
///
/// Guarantees: each accessor returns nil only when the field is absent (or YAML null); a present
/// value of the wrong shape throws `fail(field path, reason)`; `rejectUnknown` names the first
/// unknown field and lists the known ones.
public struct ManifestFields {
    public let values: [String: Node]
    public let path: String
    public let fail: (String, String) -> any Error

    public init(_ mapping: Node.Mapping, path: String, fail: @escaping (String, String) -> any Error) throws {
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw fail(path.isEmpty ? "(document)" : path, "field names must be text") }
            values[name] = value
        }
        self.values = values
        self.path = path
        self.fail = fail
    }

    /// The top-level mapping of a manifest file, or `fail("(document)", why not)`.
    public static func document(_ text: String, fail: @escaping (String, String) -> any Error) throws -> ManifestFields {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw fail("(document)", "not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw fail("(document)", "expected a mapping of fields, e.g. `name: orders`") }
        return try ManifestFields(mapping, path: "", fail: fail)
    }

    /// The required `name`: lowercase letters, digits and dashes, and the same as the file's name
    /// (`file` in parentheses, e.g. `(inline)`, skips that check).
    public func manifestName(file: String) throws -> String {
        guard let name = try string("name") else { throw fail("name", "required") }
        guard name.range(of: "^[a-z][a-z0-9-]{0,62}$", options: .regularExpression) != nil else {
            throw fail("name", "'\(name)' must be lowercase letters, digits and dashes, starting with a letter")
        }
        if !file.hasPrefix("(") {
            let stem = (file as NSString).lastPathComponent.replacingOccurrences(of: ".yaml", with: "").replacingOccurrences(of: ".yml", with: "")
            guard stem == name else { throw fail("name", "'\(name)' does not match the file name '\(stem)'") }
        }
        return name
    }

    /// The full path of a field of this mapping, e.g. `backoff.base`.
    public func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    public func scalar(_ name: String) throws -> String? {
        guard let node = values[name] else { return nil }
        if case .scalar(let scalar) = node {
            return scalar.tag == Tag(.null) || scalar.string == "~" ? nil : scalar.string
        }
        throw fail(field(name), "expected a single value, not a list or mapping")
    }

    public func string(_ name: String) throws -> String? {
        guard let text = try scalar(name) else { return nil }
        guard !text.isEmpty else { throw fail(field(name), "must not be empty") }
        return text
    }

    public func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try scalar(name) else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw fail(field(name), "'\(text)' is not a whole number")
        }
        guard range.contains(value) else {
            throw fail(field(name), "\(value) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    public func duration(_ name: String, atLeast minimum: Duration) throws -> Duration? {
        guard let text = try scalar(name) else { return nil }
        let value: Duration
        do { value = try DurationText.parse(text) } catch { throw fail(field(name), "\(error)") }
        guard value >= minimum else {
            throw fail(field(name), "\(text) is below the minimum of \(DurationText.format(minimum))")
        }
        return value
    }

    public func bool(_ name: String) throws -> Bool? {
        guard let text = try scalar(name) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(field(name), "'\(text)' is not true or false")
        }
    }

    /// A field holding one value of `choices` (by raw value), naming the choices when it does not.
    public func choice<T: RawRepresentable & CaseIterable>(_ name: String, of type: T.Type = T.self) throws -> T? where T.RawValue == String {
        guard let text = try string(name) else { return nil }
        guard let value = T(rawValue: text) else {
            throw fail(field(name), "'\(text)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// A list of non-empty strings (a single value is not silently taken as a list of one).
    public func strings(_ name: String) throws -> [String]? {
        guard let node = values[name] else { return nil }
        guard let sequence = node.sequence else { throw fail(field(name), "expected a list of values") }
        return try sequence.enumerated().map { index, item in
            guard case .scalar(let scalar) = item, !scalar.string.isEmpty else {
                throw fail("\(field(name))[\(index)]", "expected a non-empty single value")
            }
            return scalar.string
        }
    }

    public func mapping(_ name: String) throws -> ManifestFields? {
        guard let node = values[name] else { return nil }
        guard let mapping = node.mapping else { throw fail(field(name), "expected a mapping of fields") }
        return try ManifestFields(mapping, path: field(name), fail: fail)
    }

    public func rejectUnknown(_ known: Set<String>) throws {
        for name in values.keys.sorted() where !known.contains(name) {
            throw fail(field(name), "unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
    }
}

/// The name the queue manifest parser has always used.
typealias Fields = ManifestFields
