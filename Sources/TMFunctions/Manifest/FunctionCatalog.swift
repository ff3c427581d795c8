import Foundation
import TMCore
import TMManifest
import TMQueue

/// The functions of the system, loaded from `Functions/<name>/function.yaml`.
///
/// Guarantees: loading fails on the first invalid manifest with the file, the field and the
/// reason; unknown fields are errors; a queue trigger must name a queue that exists.
public struct FunctionCatalog: Sendable {
    public let functions: [String: FunctionManifest]

    public init(_ manifests: [FunctionManifest]) throws {
        var functions: [String: FunctionManifest] = [:]
        for manifest in manifests {
            guard functions[manifest.name] == nil else {
                throw FunctionManifestError(file: manifest.name, field: "name", reason: "function '\(manifest.name)' is declared twice")
            }
            functions[manifest.name] = manifest
        }
        self.functions = functions
    }

    public var names: [String] { functions.keys.sorted() }
    public subscript(name: String) -> FunctionManifest? { functions[name] }

    public func manifest(_ name: String) throws -> FunctionManifest {
        guard let manifest = functions[name] else {
            throw FunctionManifestError(file: "Functions/\(name)/function.yaml", field: "name",
                                        reason: "no function '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        return manifest
    }

    /// The functions consuming `queue`, by name.
    public func subscribers(of queue: String) -> [FunctionManifest] {
        functions.values.filter { $0.trigger == .queue(queue) }.sorted { $0.name < $1.name }
    }

    /// Every queue the functions add to the queue catalog: one invocation queue per function, and a
    /// subscription queue per function on a queue that several functions share.
    public func derivedQueues(from queues: QueueCatalog) throws -> [QueueManifest] {
        var derived: [QueueManifest] = []
        for function in functions.values.sorted(by: { $0.name < $1.name }) {
            derived.append(function.invocationQueue)
            if case .queue(let name) = function.trigger, subscribers(of: name).count > 1 {
                derived.append(function.consumedQueue(try queues.manifest(name), shared: true))
            }
        }
        return derived
    }

    /// Loads every `<dir>/<name>/function.yaml`, checking queue triggers against `queues`.
    public static func load(directory: URL, queues: QueueCatalog) throws -> FunctionCatalog {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var manifests: [FunctionManifest] = []
        for entry in entries.sorted() {
            let file = directory.appendingPathComponent(entry).appendingPathComponent("function.yaml")
            guard FileManager.default.fileExists(atPath: file.path) else { continue }
            let label = "\(directory.lastPathComponent)/\(entry)/function.yaml"
            let manifest = try parse(try String(contentsOf: file, encoding: .utf8), file: label)
            if case .queue(let queue) = manifest.trigger, queues[queue] == nil {
                throw FunctionManifestError(file: label, field: "trigger.queue",
                                            reason: "no queue '\(queue)' (known: \(queues.names.joined(separator: ", ")))")
            }
            manifests.append(manifest)
        }
        return try FunctionCatalog(manifests)
    }

    /// Finds the `Functions` folder: `TM_FUNCTIONS_DIR`, else `Functions/` here or above.
    public static func locate(environment: TMEnvironment = .current()) throws -> URL {
        try ManifestDirectory.locate("Functions", variable: "TM_FUNCTIONS_DIR", environment: environment)
    }

    public static func load(environment: TMEnvironment = .current(), queues: QueueCatalog) throws -> FunctionCatalog {
        try load(directory: try locate(environment: environment), queues: queues)
    }

    /// Parses one manifest; `file` names it in errors and its folder must match the name.
    public static func parse(_ text: String, file: String) throws -> FunctionManifest {
        func fail(_ field: String, _ reason: String) -> FunctionManifestError {
            FunctionManifestError(file: file, field: field, reason: reason)
        }
        let fields = try ManifestFields.document(text, example: "name: sync-consumer", fail: fail)
        guard let name = try fields.string("name") else { throw fail("name", "required") }
        if let problem = ManifestName.validate(name) { throw fail("name", problem) }
        if !file.hasPrefix("(") {
            let folder = ((file as NSString).deletingLastPathComponent as NSString).lastPathComponent
            guard folder == name else { throw fail("name", "'\(name)' does not match its folder '\(folder)'") }
        }
        var manifest = FunctionManifest(name: name)
        manifest.description = try fields.string("description")
        if let executable = try fields.string("executable") {
            guard executable.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]*$", options: .regularExpression) != nil else {
                throw fail("executable", "'\(executable)' must be a file name, not a path")
            }
            manifest.executable = executable
        }
        if fields.has("trigger") {
            if let text = try? fields.string("trigger") {
                guard text == "schedules" else { throw fail("trigger", "'\(text)' is not `schedules` or a mapping `queue: NAME`") }
                manifest.trigger = .schedules
            } else if let trigger = try fields.mapping("trigger") {
                guard let queue = try trigger.string("queue") else { throw fail("trigger.queue", "required (or write `trigger: schedules`)") }
                try trigger.rejectUnknown(["queue"])
                manifest.trigger = .queue(queue)
            }
        }
        if let timeout = try fields.duration("timeout", atLeast: .milliseconds(100), atMost: .seconds(15 * 60)) { manifest.timeout = timeout }
        if let grace = try fields.duration("kill_grace", atLeast: .zero, atMost: .seconds(60)) { manifest.killGrace = grace }
        if let reserved = try fields.int("reserved_concurrency", in: 1...1000) { manifest.reservedConcurrency = reserved }
        if let batch = try fields.mapping("batch") {
            if let size = try batch.int("size", in: 1...1000) { manifest.batchSize = size }
            if let window = try batch.duration("window", atLeast: .zero, atMost: .seconds(300)) { manifest.batchWindow = window }
            try batch.rejectUnknown(["size", "window"])
        }
        if let warm = try fields.bool("warm") { manifest.warm = warm }
        if let max = try fields.int("max_invocations", in: 1...10_000_000) { manifest.maxInvocationsPerProcess = max }
        if let idle = try fields.duration("idle_timeout", atLeast: .seconds(1), atMost: .seconds(86_400)) { manifest.idleTimeout = idle }
        if let environment = try fields.stringMap("environment") {
            for key in environment.keys where key.hasPrefix("TM_") {
                throw fail("environment.\(key)", "TM_ variables are set by the dispatcher")
            }
            manifest.environment = environment
        }
        if let secrets = try fields.strings("secrets") {
            for (index, secret) in secrets.enumerated() {
                guard FunctionEnvironment.secrets.contains(secret) else {
                    throw fail("secrets[\(index)]", "'\(secret)' is not a secret the dispatcher holds (known: \(FunctionEnvironment.secrets.sorted().joined(separator: ", ")))")
                }
                guard secrets.firstIndex(of: secret) == index else { throw fail("secrets[\(index)]", "'\(secret)' is listed twice") }
            }
            manifest.secrets = secrets
        }
        if let max = try fields.byteSize("max_output", in: FunctionManifest.maxOutputRange) { manifest.maxOutput = max }
        if let retry = try fields.mapping("retry") {
            manifest.retry.maxDeliveries = try retry.int("max_deliveries", in: 1...100)
            if let backoff = try retry.mapping("backoff") {
                var value = QueueManifest.Backoff()
                if let base = try backoff.duration("base", atLeast: .milliseconds(1)) { value.base = base }
                if let cap = try backoff.duration("cap", atLeast: .milliseconds(1)) { value.cap = cap }
                if let jitter = try backoff.choice("jitter", QueueManifest.Backoff.Jitter.allCases.map(\.rawValue)) {
                    value.jitter = QueueManifest.Backoff.Jitter(rawValue: jitter)!
                }
                try backoff.rejectUnknown(["base", "cap", "jitter"])
                guard value.cap >= value.base else { throw fail("retry.backoff.cap", "is below retry.backoff.base") }
                manifest.retry.backoff = value
            }
            try retry.rejectUnknown(["max_deliveries", "backoff"])
        }
        try fields.rejectUnknown([
            "name", "description", "executable", "trigger", "timeout", "kill_grace", "reserved_concurrency", "batch",
            "warm", "max_invocations", "idle_timeout", "environment", "secrets", "max_output", "retry",
        ])
        return manifest
    }
}
