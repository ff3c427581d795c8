import Foundation
import TMCore
import TMManifest

/// The queues of the system, loaded from `Queues/*.yaml`.
///
/// Guarantees: loading fails on the first invalid file with the file, the field and the reason;
/// unknown fields are errors (a misspelt `max_deliveries` must not silently become the default);
/// queue names are unique.
public struct QueueCatalog: Sendable {
    public let queues: [String: QueueManifest]

    public init(_ manifests: [QueueManifest]) throws {
        try self.init(manifests, adding: [:])
    }

    private init(_ manifests: [QueueManifest], adding existing: [String: QueueManifest]) throws {
        var queues = existing
        for manifest in manifests {
            guard queues[manifest.name] == nil else {
                throw QueueManifestError(file: manifest.name, field: "name", reason: "queue '\(manifest.name)' is declared twice")
            }
            queues[manifest.name] = manifest
        }
        self.queues = queues
    }

    public subscript(name: String) -> QueueManifest? { queues[name] }

    /// This catalog and `manifests` (queues derived in code, such as a function's invocation
    /// queue); a name declared twice is an error.
    public func adding(_ manifests: [QueueManifest]) throws -> QueueCatalog {
        try QueueCatalog(manifests, adding: queues)
    }

    public var names: [String] { queues.keys.sorted() }

    /// The manifest of `name`, or an error listing the queues that exist.
    public func manifest(_ name: String) throws -> QueueManifest {
        guard let manifest = queues[name] else { throw QueueError.unknownQueue(name, known: names) }
        return manifest
    }

    /// Loads every `*.yaml` / `*.yml` file in `directory`.
    public static func load(directory: URL) throws -> QueueCatalog {
        return try QueueCatalog(try ManifestDirectory.yamlFiles(in: directory).map { file in
            let path = directory.appendingPathComponent(file)
            let text = try String(contentsOf: path, encoding: .utf8)
            return try parse(text, file: "Queues/\(file)")
        })
    }

    /// Finds the `Queues` folder: `TM_QUEUES_DIR`, else `Queues/` in the current directory or above.
    public static func locate(environment: TMEnvironment = .current()) throws -> URL {
        try ManifestDirectory.locate("Queues", variable: "TM_QUEUES_DIR", environment: environment)
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
        let fields = try ManifestFields.document(text, fail: fail)
        let name = try fields.manifestName(file: file)
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
        let maxDeferral = try fields.duration("max_deferral", atLeast: .zero, atMost: .seconds(86_400))
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
        // A deferred message's idempotency record (kept `retention.completed` from its enqueue)
        // must outlive its deferrals, or a duplicate enqueue would slip in while it waits: the
        // default stays below it, a declared value must.
        if let maxDeferral {
            guard maxDeferral < manifest.retention.completed else {
                throw fail("max_deferral", "\(DurationText.format(maxDeferral)) is not below retention.completed \(DurationText.format(manifest.retention.completed))")
            }
            manifest.maxDeferral = maxDeferral
        } else {
            manifest.maxDeferral = min(manifest.maxDeferral, manifest.retention.completed / 2)
        }
        try fields.rejectUnknown([
            "name", "description", "shards", "shard_by", "visibility_timeout", "max_deliveries", "max_reclaims", "max_deferral",
            "max_length", "max_payload_bytes", "concurrency", "batch_size", "backoff", "retention",
        ])
        return manifest
    }
}
