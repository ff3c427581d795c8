import Foundation
import TestSupport
import TMQueue
import TMRedis

/// A queue of one test's own, shaped exactly like `Queues/orders.yaml` (8 shards by account_id)
/// under a unique name, in a directory of its own (`TM_QUEUES_DIR` for the processes it starts).
struct ScratchOrdersQueue {
    let name: String
    let directory: URL
    let catalog: QueueCatalog
    let shards: Int

    init(prefix: String) throws {
        name = "orders-" + TestServers.uniqueName(prefix).lowercased().replacingOccurrences(of: "_", with: "-")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let real = try String(contentsOf: TestServers.repositoryRoot.appendingPathComponent("Queues/orders.yaml"), encoding: .utf8)
        try real.replacingOccurrences(of: "\nname: orders\n", with: "\nname: \(name)\n")
            .write(to: directory.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        catalog = try QueueCatalog.load(directory: directory)
        shards = try catalog.manifest(name).shards
    }

    /// Deletes its directory (unless `keepDirectory`) and every key of its shards.
    func remove(redis: RedisClient, keepDirectory: Bool = false) async {
        if !keepDirectory { try? FileManager.default.removeItem(at: directory) }
        for shard in 0..<shards {
            let keys = (try? await redis.send("KEYS", "tm:{\(name).\(shard)}:*").array) ?? []
            let names = keys.compactMap(\.string)
            if !names.isEmpty { _ = try? await redis.send(RedisCommand("DEL", arguments: names)) }
        }
    }
}
