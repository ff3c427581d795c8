import Foundation

/// Finds a folder of manifests (`Queues`, `Schedules`, ...): the path in `variable` when set,
/// else the folder of that name in the current directory or the nearest one above it, so `tm`
/// works from anywhere inside the checkout.
public enum ManifestFolder {
    public static func locate(_ folder: String, variable: String, environment: TMEnvironment) throws -> URL {
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
