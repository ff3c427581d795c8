import Foundation
import TMCore
import Yams

/// Typed, path-aware access to one YAML mapping of a manifest (queue, function or schedule), so
/// every error names the full field path (`backoff.cap`) and the reason.
///
/// Guarantees: a value comes back only when it has the expected shape and range; an empty string
/// or a list where one value belongs is refused, never coerced; `rejectUnknown` names the first
/// field that is not known, so a typo in a manifest is an error rather than a silent default.
public struct ManifestFields {
    public let values: [String: Node]
    public let path: String
    /// Makes the caller's error type from (field path, reason).
    public let fail: (String, String) -> any Error

    public init(_ mapping: Node.Mapping, path: String = "", fail: @escaping (String, String) -> any Error) throws {
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw fail(path.isEmpty ? "(document)" : path, "field names must be text") }
            values[name] = value
        }
        self.values = values
        self.path = path
        self.fail = fail
    }

    /// Parses `text` as a YAML document whose root is a mapping.
    public static func document(_ text: String, example: String = "name: orders", fail: @escaping (String, String) -> any Error) throws -> ManifestFields {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw fail("(document)", "not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw fail("(document)", "expected a mapping of fields, e.g. `\(example)`") }
        return try ManifestFields(mapping, fail: fail)
    }

    /// The required `name`: a valid manifest name, and the same as the file's name (`file` in
    /// parentheses, e.g. `(inline)`, skips that check).
    public func manifestName(file: String) throws -> String {
        guard let name = try string("name") else { throw fail("name", "required") }
        if let problem = ManifestName.validate(name) { throw fail("name", problem) }
        if !file.hasPrefix("(") {
            let stem = ManifestName.stem(of: file)
            guard stem == name else { throw fail("name", "'\(name)' does not match the file name '\(stem)'") }
        }
        return name
    }

    /// The full path of `name` for error messages.
    public func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    public func has(_ name: String) -> Bool { values[name] != nil }

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

    /// One of `allowed`, or an error listing them.
    public func choice(_ name: String, _ allowed: [String]) throws -> String? {
        guard let text = try string(name) else { return nil }
        guard allowed.contains(text) else { throw fail(field(name), "'\(text)' is not one of \(allowed.joined(separator: ", "))") }
        return text
    }

    /// A field holding one value of `T` (by raw value), naming the choices when it does not.
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

    public func bool(_ name: String) throws -> Bool? {
        guard let text = try scalar(name) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(field(name), "'\(text)' is not true or false")
        }
    }

    public func duration(_ name: String, atLeast minimum: Duration, atMost maximum: Duration? = nil) throws -> Duration? {
        guard let text = try scalar(name) else { return nil }
        let value: Duration
        do { value = try DurationText.parse(text) } catch { throw fail(field(name), "\(error)") }
        guard value >= minimum else {
            throw fail(field(name), "\(text) is below the minimum of \(DurationText.format(minimum))")
        }
        if let maximum, value > maximum {
            throw fail(field(name), "\(text) is above the maximum of \(DurationText.format(maximum))")
        }
        return value
    }

    /// A size such as `1MiB` or `65536` (bytes), within `range`.
    public func byteSize(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try scalar(name) else { return nil }
        let value: Int
        do { value = try ByteSizeText.parse(text) } catch { throw fail(field(name), "\(error)") }
        guard range.contains(value) else {
            throw fail(field(name), "\(text) is out of range (\(ByteSizeText.format(range.lowerBound))...\(ByteSizeText.format(range.upperBound)))")
        }
        return value
    }

    public func mapping(_ name: String) throws -> ManifestFields? {
        guard let node = values[name] else { return nil }
        guard let mapping = node.mapping else { throw fail(field(name), "expected a mapping of fields") }
        return try ManifestFields(mapping, path: field(name), fail: fail)
    }

    /// A mapping of text to text (e.g. an environment), each value a single scalar.
    public func stringMap(_ name: String) throws -> [String: String]? {
        guard let nested = try mapping(name) else { return nil }
        var out: [String: String] = [:]
        for key in nested.values.keys.sorted() {
            guard let value = try nested.scalar(key) else { throw nested.fail(nested.field(key), "must have a value") }
            out[key] = value
        }
        return out
    }

    public func rejectUnknown(_ known: Set<String>) throws {
        for name in values.keys.sorted() where !known.contains(name) {
            throw fail(field(name), "unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
    }
}

/// The rule every manifest name follows: it becomes part of Redis keys and file names.
public enum ManifestName {
    public static func validate(_ name: String) -> String? {
        name.range(of: "^[a-z][a-z0-9-]{0,62}$", options: .regularExpression) != nil
            ? nil : "'\(name)' must be lowercase letters, digits and dashes, starting with a letter"
    }

    /// The file's name without its folder and `.yaml`/`.yml` extension.
    public static func stem(of file: String) -> String {
        (file as NSString).lastPathComponent.replacingOccurrences(of: ".yaml", with: "").replacingOccurrences(of: ".yml", with: "")
    }
}

/// Where a kind of manifest lives: the folder named by an environment variable, else `<folder>/`
/// in the current directory or the nearest one above (so commands work from any subfolder).
public enum ManifestDirectory {
    public static func locate(_ folder: String, variable: String, environment: TMEnvironment = .current()) throws -> URL {
        if let dir = environment[variable] { return URL(fileURLWithPath: dir) }
        var url = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL
        while true {
            let candidate = url.appendingPathComponent(folder)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
                return candidate
            }
            let parent = url.deletingLastPathComponent()
            guard parent.path != url.path else {
                throw ConfigurationError(variable: variable, reason: "no \(folder) folder here or above; run from the checkout or set \(variable)")
            }
            url = parent
        }
    }

    /// The `*.yaml` / `*.yml` files of `directory`, sorted by name.
    public static func yamlFiles(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
    }
}

/// A manifest that cannot be used, naming the file, the field (full path) and the reason.
public struct ManifestError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    public let field: String
    public let reason: String

    public init(file: String, field: String, reason: String) {
        self.file = file
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(file): \(field): \(reason)" }
}
