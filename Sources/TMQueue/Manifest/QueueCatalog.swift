import Foundation
import TMCore
import Yams

/// The queues of the system, loaded from `Queues/*.yaml`.
///
/// Guarantees: loading fails on the first invalid file with the file, the field and the reason;
/// unknown fields are errors (a misspelt `max_deliveries` must not silently become the default);
/// queue names are unique.
public struct QueueCatalog: Sendable {
    public let queues: [String: QueueManifest]

    public init(_ manifests: [QueueManifest]) throws {
        var queues: [String: QueueManifest] = [:]
        for manifest in manifests {
            guard queues[manifest.name] == nil else {
                throw QueueManifestError(file: manifest.name, field: "name", reason: "queue '\(manifest.name)' is declared twice")
            }
            queues[manifest.name] = manifest
        }
        self.queues = queues
    }

    public subscript(name: String) -> QueueManifest? { queues[name] }

    public var names: [String] { queues.keys.sorted() }

    /// The manifest of `name`, or an error listing the queues that exist.
    public func manifest(_ name: String) throws -> QueueManifest {
        guard let manifest = queues[name] else { throw QueueError.unknownQueue(name, known: names) }
        return manifest
    }

    /// Loads every `*.yaml` / `*.yml` file in `directory`.
    public static func load(directory: URL) throws -> QueueCatalog {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
            .sorted()
        return try QueueCatalog(files.map { file in
            let path = directory.appendingPathComponent(file)
            let text = try String(contentsOf: path, encoding: .utf8)
            return try parse(text, file: "Queues/\(file)")
        })
    }

    /// Finds the `Queues` folder: `TM_QUEUES_DIR`, else `Queues/` in the current directory or above.
    public static func locate(environment: TMEnvironment = .current()) throws -> URL {
        if let dir = environment["TM_QUEUES_DIR"] { return URL(fileURLWithPath: dir) }
        var url = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL
        while true {
            let candidate = url.appendingPathComponent("Queues")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
                return candidate
            }
            let parent = url.deletingLastPathComponent()
            guard parent.path != url.path else {
                throw ConfigurationError(variable: "TM_QUEUES_DIR", reason: "no Queues folder here or above; run from the checkout or set TM_QUEUES_DIR")
            }
            url = parent
        }
    }

    /// Loads the catalog from `locate(environment:)`.
    public static func load(environment: TMEnvironment = .current()) throws -> QueueCatalog {
        try load(directory: try locate(environment: environment))
    }

    /// Parses one manifest. `file` is only used in error messages.
    public static func parse(_ text: String, file: String) throws -> QueueManifest {
        func fail(_ field: String, _ reason: String) -> QueueManifestError {
            QueueManifestError(file: file, field: field, reason: reason)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw fail("(document)", "not valid YAML: \(error)")
        }
        guard let mapping = root?.mapping else { throw fail("(document)", "expected a mapping of fields, e.g. `name: orders`") }
        let fields = try Fields(mapping, path: "", fail: fail)

        guard let name = try fields.string("name") else { throw fail("name", "required") }
        guard name.range(of: "^[a-z][a-z0-9-]{0,62}$", options: .regularExpression) != nil else {
            throw fail("name", "'\(name)' must be lowercase letters, digits and dashes, starting with a letter")
        }
        if !file.hasPrefix("(") {
            let stem = (file as NSString).lastPathComponent.replacingOccurrences(of: ".yaml", with: "").replacingOccurrences(of: ".yml", with: "")
            guard stem == name else { throw fail("name", "'\(name)' does not match the file name '\(stem)'") }
        }
        var manifest = QueueManifest(name: name)
        manifest.description = try fields.string("description")
        if let shards = try fields.int("shards", in: 1...1024) { manifest.shards = shards }
        manifest.shardBy = try fields.string("shard_by")
        if manifest.shardBy != nil && manifest.shards == 1 {
            throw fail("shard_by", "only meaningful with shards > 1")
        }
        if let visibility = try fields.duration("visibility_timeout", atLeast: .seconds(1)) { manifest.visibilityTimeout = visibility }
        if let max = try fields.int("max_deliveries", in: 1...100) { manifest.maxDeliveries = max }
        if let reclaims = try fields.int("max_reclaims", in: 0...100) { manifest.maxReclaims = reclaims }
        if let length = try fields.int("max_length", in: 1...100_000_000) { manifest.maxLength = length }
        if let payload = try fields.int("max_payload_bytes", in: 64...(16 * 1024 * 1024)) { manifest.maxPayloadBytes = payload }
        if let concurrency = try fields.int("concurrency", in: 1...1024) { manifest.concurrency = concurrency }
        if let batch = try fields.int("batch_size", in: 1...1000) { manifest.batchSize = batch }
        if let backoff = try fields.mapping("backoff") {
            if let base = try backoff.duration("base", atLeast: .milliseconds(1)) { manifest.backoff.base = base }
            if let cap = try backoff.duration("cap", atLeast: .milliseconds(1)) { manifest.backoff.cap = cap }
            if let jitter = try backoff.string("jitter") {
                guard let value = QueueManifest.Backoff.Jitter(rawValue: jitter) else {
                    throw fail("backoff.jitter", "'\(jitter)' is not one of \(QueueManifest.Backoff.Jitter.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                manifest.backoff.jitter = value
            }
            try backoff.rejectUnknown(["base", "cap", "jitter"])
            guard manifest.backoff.cap >= manifest.backoff.base else {
                throw fail("backoff.cap", "\(DurationText.format(manifest.backoff.cap)) is below backoff.base \(DurationText.format(manifest.backoff.base))")
            }
        }
        if let retention = try fields.mapping("retention") {
            if let completed = try retention.duration("completed", atLeast: .seconds(1)) { manifest.retention.completed = completed }
            if let dead = try retention.duration("dead_letters", atLeast: .seconds(60)) { manifest.retention.deadLetters = dead }
            try retention.rejectUnknown(["completed", "dead_letters"])
        }
        try fields.rejectUnknown([
            "name", "description", "shards", "shard_by", "visibility_timeout", "max_deliveries", "max_reclaims",
            "max_length", "max_payload_bytes", "concurrency", "batch_size", "backoff", "retention",
        ])
        return manifest
    }
}

/// Typed, path-aware access to a YAML mapping, so every error names the full field path.
private struct Fields {
    let values: [String: Node]
    let path: String
    let fail: (String, String) -> QueueManifestError

    init(_ mapping: Node.Mapping, path: String, fail: @escaping (String, String) -> QueueManifestError) throws {
        var values: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw fail(path.isEmpty ? "(document)" : path, "field names must be text") }
            values[name] = value
        }
        self.values = values
        self.path = path
        self.fail = fail
    }

    func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    func scalar(_ name: String) throws -> String? {
        guard let node = values[name] else { return nil }
        if case .scalar(let scalar) = node {
            return scalar.tag == Tag(.null) || scalar.string == "~" ? nil : scalar.string
        }
        throw fail(field(name), "expected a single value, not a list or mapping")
    }

    func string(_ name: String) throws -> String? {
        guard let text = try scalar(name) else { return nil }
        guard !text.isEmpty else { throw fail(field(name), "must not be empty") }
        return text
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try scalar(name) else { return nil }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")) else {
            throw fail(field(name), "'\(text)' is not a whole number")
        }
        guard range.contains(value) else {
            throw fail(field(name), "\(value) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    func duration(_ name: String, atLeast minimum: Duration) throws -> Duration? {
        guard let text = try scalar(name) else { return nil }
        let value: Duration
        do { value = try DurationText.parse(text) } catch { throw fail(field(name), "\(error)") }
        guard value >= minimum else {
            throw fail(field(name), "\(text) is below the minimum of \(DurationText.format(minimum))")
        }
        return value
    }

    func mapping(_ name: String) throws -> Fields? {
        guard let node = values[name] else { return nil }
        guard let mapping = node.mapping else { throw fail(field(name), "expected a mapping of fields") }
        return try Fields(mapping, path: field(name), fail: fail)
    }

    func rejectUnknown(_ known: Set<String>) throws {
        for name in values.keys.sorted() where !known.contains(name) {
            throw fail(field(name), "unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
    }
}
