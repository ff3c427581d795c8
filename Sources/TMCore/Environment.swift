import Foundation

/// The process configuration: variables from the real environment, falling back to a `KEY=VALUE`
/// file (by default `.tm/env`, written by `scripts/tm-servers.sh` when it starts the local servers).
///
/// Guarantees: a variable set in the real environment always wins over the file, so CI and
/// deployments override the local defaults; the file is looked up from the current directory
/// upwards, so `tm` finds the local servers from anywhere inside the checkout.
public struct TMEnvironment: Sendable {
    /// Where each value came from, for `tm doctor`.
    public enum Source: Sendable, Equatable { case environment, file(String) }

    public private(set) var values: [String: String]
    public private(set) var sources: [String: Source]
    /// The env file that was read, if any.
    public let envFile: String?

    /// Reads `ProcessInfo` and the first `.tm/env` found from `directory` upwards (or `TM_ENV_FILE`).
    public static func current(directory: String = FileManager.default.currentDirectoryPath) -> TMEnvironment {
        let process = ProcessInfo.processInfo.environment
        let file = process["TM_ENV_FILE"] ?? findEnvFile(from: directory)
        return TMEnvironment(process: process, envFile: file)
    }

    public init(process: [String: String], envFile: String?) {
        var values: [String: String] = [:]
        var sources: [String: Source] = [:]
        var usedFile: String?
        if let envFile, let text = try? String(contentsOfFile: envFile, encoding: .utf8) {
            usedFile = envFile
            for (key, value) in TMEnvironment.parse(text) {
                values[key] = value
                sources[key] = .file(envFile)
            }
        }
        for (key, value) in process where key.hasPrefix("TM_") {
            values[key] = value
            sources[key] = .environment
        }
        self.values = values
        self.sources = sources
        self.envFile = usedFile
    }

    public subscript(key: String) -> String? { values[key] }

    /// Parses `KEY=VALUE` lines; blank lines and `#` comments are skipped, surrounding quotes removed.
    public static func parse(_ text: String) -> [(String, String)] {
        var result: [(String, String)] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line.removeFirst("export ".count) }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]).trimmingCharacters(in: .whitespaces)
            var value = String(line[line.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
                value = String(value.dropFirst().dropLast())
            }
            result.append((key, value))
        }
        return result
    }

    static func findEnvFile(from directory: String) -> String? {
        var url = URL(fileURLWithPath: directory).standardizedFileURL
        while true {
            let candidate = url.appendingPathComponent(".tm/env").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return nil }
            url = parent
        }
    }
}

/// A configuration value that is missing or malformed, naming the variable and the reason.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let reason: String
    public init(variable: String, reason: String) {
        self.variable = variable
        self.reason = reason
    }
    public var description: String { "\(variable): \(reason)" }
}
