import Foundation
import TestSupport
import TMQueue
import TMRedis

/// A manifest folder holding one uniquely named queue, for tests that run `tm` with
/// `TM_QUEUES_DIR`; `cleanUp()` deletes the folder and the queue's Redis keys.
struct ScratchQueue {
    let name: String
    let directory: URL
    let shards: Int

    /// `settings` are extra manifest lines, e.g. `visibility_timeout: 5s`.
    init(shards: Int = 1, settings: String = "") throws {
        name = "cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        self.shards = shards
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "name: \(name)\nshards: \(shards)\n\(settings)\n"
            .write(to: directory.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
    }

    /// The manifest as `tm` loads it.
    func manifest() throws -> QueueManifest { try QueueCatalog.load(directory: directory).manifest(name) }

    func cleanUp() {
        try? FileManager.default.removeItem(at: directory)
        guard let url = try? TestServers.redisURL, let configuration = try? RedisConfiguration(url: url),
              let redis = try? RedisConnection(configuration: configuration) else { return }
        defer { redis.close() }
        for shard in 0..<shards {
            let keys = (try? redis.send("KEYS", "tm:{\(name).\(shard)}:*").array ?? []) ?? []
            let names = keys.compactMap(\.string)
            if !names.isEmpty { _ = try? redis.send(RedisCommand("DEL", arguments: names)) }
        }
    }
}
