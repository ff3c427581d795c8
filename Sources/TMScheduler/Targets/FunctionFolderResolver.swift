import Foundation
import TMCore
import TMQueue

/// STAND-IN until the functions runtime lands, which replaces it with its real resolver: a
/// function F counts as deployed when `Functions/F/function.yaml` exists, and is invoked through
/// the queue `fn:F` with default queue settings. Queue targets go to `queues`.
///
/// Guarantees: a function without a manifest is refused with the path that was looked for.
public struct FunctionFolderResolver: ScheduleTargetResolving {
    public let functionsDirectory: URL
    public let queues: QueueTargetResolver

    public init(functionsDirectory: URL, queues: QueueTargetResolver) {
        self.functionsDirectory = functionsDirectory
        self.queues = queues
    }

    public func queue(for target: ScheduleTarget) throws -> QueueManifest {
        guard case .function(let name) = target else { return try queues.queue(for: target) }
        let manifest = functionsDirectory.appendingPathComponent(name).appendingPathComponent("function.yaml")
        guard FileManager.default.fileExists(atPath: manifest.path) else {
            throw ScheduleTargetError(target: target, reason: "function '\(name)' is not deployed (no \(manifest.path))")
        }
        return QueueManifest(name: "fn:\(name)")
    }

    /// `TM_FUNCTIONS_DIR`, else the `Functions` folder beside `schedulesDirectory`.
    public static func functionsDirectory(environment: TMEnvironment, schedulesDirectory: URL) -> URL {
        if let dir = environment["TM_FUNCTIONS_DIR"] { return URL(fileURLWithPath: dir) }
        return schedulesDirectory.deletingLastPathComponent().appendingPathComponent("Functions")
    }
}
