import Foundation
import TMCore
import TMManifest
import TMQueue

/// The schedules of the system, loaded from `Schedules/*.yaml` (or `TM_SCHEDULES_DIR`).
///
/// Guarantees: loading fails on the first invalid file with the file, the field and the reason,
/// in the queue manifests' style; unknown fields are errors; names are unique and match files.
public struct ScheduleCatalog: Sendable {
    public let schedules: [ScheduleManifest]
    /// Where the manifests were read from.
    public let directory: URL?

    public init(_ schedules: [ScheduleManifest], directory: URL? = nil) throws {
        var seen = Set<String>()
        for schedule in schedules where !seen.insert(schedule.name).inserted {
            throw ScheduleManifestError(file: schedule.name, field: "name", reason: "schedule '\(schedule.name)' is declared twice")
        }
        self.schedules = schedules.sorted { $0.name < $1.name }
        self.directory = directory
    }

    public subscript(name: String) -> ScheduleManifest? { schedules.first { $0.name == name } }

    /// The schedule `name`, or an error listing the schedules that exist.
    public func schedule(_ name: String) throws -> ScheduleManifest {
        guard let schedule = self[name] else {
            throw ScheduleManifestError(file: "Schedules/\(name).yaml", field: "name",
                                        reason: "no schedule '\(name)' (known: \(schedules.map(\.name).joined(separator: ", ")))")
        }
        return schedule
    }

    public static func load(directory: URL) throws -> ScheduleCatalog {
        try ScheduleCatalog(try ManifestDirectory.yamlFiles(in: directory).map { file in
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return try parse(text, file: "Schedules/\(file)")
        }, directory: directory)
    }

    public static func locate(environment: TMEnvironment = .current()) throws -> URL {
        try ManifestDirectory.locate("Schedules", variable: "TM_SCHEDULES_DIR", environment: environment)
    }

    public static func load(environment: TMEnvironment = .current()) throws -> ScheduleCatalog {
        try load(directory: try locate(environment: environment))
    }

    static let knownFields: Set<String> = [
        "name", "description", "expression", "expressions", "timezone", "target", "payload", "jitter",
        "misfire", "catch_up_limit", "misfire_grace", "overlap", "enabled",
    ]

    /// Parses one manifest. `file` is only used in error messages (and the name check).
    public static func parse(_ text: String, file: String) throws -> ScheduleManifest {
        func fail(_ field: String, _ reason: String) -> any Error {
            ScheduleManifestError(file: file, field: field, reason: reason)
        }
        let fields = try ManifestFields.document(text, fail: fail)
        try fields.rejectUnknown(knownFields)
        let name = try fields.manifestName(file: file)

        let zoneName = try fields.string("timezone") ?? "UTC"
        guard let zone = TimeZones.named(zoneName) else {
            throw fail("timezone", "'\(zoneName)' is not an IANA time zone (e.g. UTC, Asia/Kolkata, America/New_York)")
        }
        let times: ScheduleTimes
        do {
            switch (try fields.string("expression"), try fields.strings("expressions")) {
            case (let one?, nil):
                times = try ScheduleTimes(parsing: [one], timeZone: zone) { _ in "expression" }
            case (nil, let many?):
                guard !many.isEmpty else { throw fail("expressions", "must list at least one expression") }
                times = try ScheduleTimes(parsing: many, timeZone: zone) { "expressions[\($0)]" }
            case (.some, .some):
                throw fail("expression", "give either expression or expressions, not both")
            case (nil, nil):
                throw fail("expression", "required (or expressions: a list whose fire times are united)")
            }
        } catch let failure as ScheduleExpressionFailure {
            throw fail(failure.field, failure.reason)
        }

        var manifest = ScheduleManifest(name: name, times: times, target: try target(fields, fail: fail))
        manifest.description = try fields.string("description")
        if let node = fields.values["payload"] {
            guard node.mapping != nil else { throw fail("payload", "expected a mapping of fields (the JSON object to send)") }
            manifest.payload = try PayloadTemplate.parse(node, field: "payload", fail: fail)
        }
        if let jitter = try fields.duration("jitter", atLeast: .zero) { manifest.jitter = jitter }
        if let grace = try fields.duration("misfire_grace", atLeast: .seconds(1)) { manifest.misfireGrace = grace }
        manifest.misfire = try misfire(fields, fail: fail)
        if let overlap = try fields.choice("overlap", of: OverlapPolicy.self) { manifest.overlap = overlap }
        if let enabled = try fields.bool("enabled") { manifest.enabled = enabled }
        return manifest
    }

    private static func target(_ fields: ManifestFields, fail: (String, String) -> any Error) throws -> ScheduleTarget {
        guard let target = try fields.mapping("target") else {
            throw fail("target", "required: `function: NAME` or `queue: NAME`")
        }
        try target.rejectUnknown(["function", "queue"])
        switch (try target.string("function"), try target.string("queue")) {
        case (let function?, nil): return .function(function)
        case (nil, let queue?): return .queue(queue)
        case (.some, .some): throw fail("target", "name exactly one of function or queue, not both")
        case (nil, nil): throw fail("target", "name exactly one of function or queue")
        }
    }

    private static func misfire(_ fields: ManifestFields, fail: (String, String) -> any Error) throws -> MisfirePolicy {
        let limit = try fields.int("catch_up_limit", in: 1...10_000)
        switch try fields.string("misfire") ?? "fire-once" {
        case "skip", "fire-once":
            guard limit == nil else { throw fail("catch_up_limit", "only meaningful with misfire: catch-up") }
            return try fields.string("misfire") == "skip" ? .skip : .fireOnce
        case "catch-up":
            guard let limit else { throw fail("catch_up_limit", "required with misfire: catch-up (how many missed slots to fire)") }
            return .catchUp(limit: limit)
        case let other:
            throw fail("misfire", "'\(other)' is not one of skip, fire-once, catch-up")
        }
    }
}

/// IANA time zones by name.
public enum TimeZones {
    /// The zone `name`, or nil when it is not an IANA `Area/Location` name or `UTC`: abbreviations
    /// like `EST` and offsets like `GMT+5` are refused, since they do not follow daylight saving.
    public static func named(_ name: String) -> TimeZone? {
        guard name == "UTC" || name.range(of: "^[A-Za-z]+(/[A-Za-z0-9_+-]+)+$", options: .regularExpression) != nil else { return nil }
        return TimeZone(identifier: name)
    }
}
