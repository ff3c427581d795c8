import Foundation
import TMCore
import TMRedis

/// How a trading-state change reaches the resident workers without a Redis read per message: each
/// worker's watch blocks on the announcements (`next`), applies a new version and confirms it
/// (`confirm`, also its heartbeat while nothing changes); the operator's command waits until every
/// live watch confirmed (`awaitApplied`), so a message enqueued after the command returned meets
/// the new state.
///
/// Guarantees: `awaitApplied` returns only once every watch that confirmed anything within
/// `liveWindow` (by Redis's clock, so the hosts' clocks do not matter) has confirmed `version` or a
/// later one, or `timeout` passed — then it names the watches that did not. A watch that starts
/// later reads the announcements retained so far (and its worker reads the rows when it loads
/// shards), so it cannot miss a change made before it started.
public enum TradingControlsWatch {
    /// What `awaitApplied` found: the watches that confirmed, and the live ones that did not in time.
    public struct Confirmations: Sendable, Equatable {
        public var confirmed: [String] = []
        public var unconfirmed: [String] = []
    }

    private static let confirmScript = RedisScript("""
        local now = redis.call('TIME')
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. (now[1] * 1000 + math.floor(now[2] / 1000)))
        return 1
        """)

    /// Every watch's entry with Redis's time; entries silent for an hour (a worker that died) are dropped.
    private static let statusScript = RedisScript("""
        local now = redis.call('TIME')
        local ms = now[1] * 1000 + math.floor(now[2] / 1000)
        local entries = redis.call('HGETALL', KEYS[1])
        for i = 1, #entries, 2 do
          local at = tonumber(string.match(entries[i + 1], ' (%d+)$') or '0')
          if at < ms - 3600000 then redis.call('HDEL', KEYS[1], entries[i]) end
        end
        return {ms, entries}
        """)

    /// Records that `watcher` has applied `version` (and is alive).
    public static func confirm(_ redis: RedisClient, watcher: String, applied version: Int64) async throws {
        try await redis.run(confirmScript, keys: [TradingControls.appliedKey], arguments: [watcher, version])
    }

    /// A watch that stops removes its entry: it no longer serves messages.
    public static func leave(_ redis: RedisClient, watcher: String) async throws {
        _ = try await redis.send("HDEL", TradingControls.appliedKey, watcher)
    }

    /// Blocks up to `block` for announcements after `after` (a stream id; "0-0" returns the ones
    /// retained); returns the last one's id and version, nil when none came.
    public static func next(_ reader: RedisClient, after: String, block: Duration) async throws -> (id: String, version: Int64)? {
        let reply = try await reader.send(
            RedisCommand("XREAD", "COUNT", 1000, "BLOCK", block.milliseconds, "STREAMS", TradingControls.announcementStream, after),
            timeout: block + .seconds(5))
        var last: (id: String, version: Int64)?
        for entry in reply.array?.first?.array?[1].array ?? [] {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array else { continue }
            for index in stride(from: 0, to: fields.count - 1, by: 2) where fields[index].string == "version" {
                if let version = fields[index + 1].int { last = (id, max(version, last?.version ?? 0)) }
            }
        }
        return last
    }

    /// Waits until every live watch has confirmed `version` (see the type's guarantees).
    public static func awaitApplied(_ redis: RedisClient, version: Int64, timeout: Duration, liveWindow: Duration = .seconds(5),
                                    poll: Duration = .milliseconds(5)) async throws -> Confirmations {
        let deadline = ContinuousClock.now + timeout
        while true {
            let reply = try await redis.run(statusScript, keys: [TradingControls.appliedKey])
            guard let parts = reply.array, parts.count == 2, let now = parts[0].int else {
                throw RedisError.unexpectedReply(command: "trading controls status", reply: reply.description)
            }
            let entries = parts[1].array ?? []
            var found = Confirmations()
            for index in stride(from: 0, to: entries.count - 1, by: 2) {
                guard let watcher = entries[index].string, let value = entries[index + 1].string else { continue }
                let fields = value.split(separator: " ")
                guard fields.count == 2, let applied = Int64(fields[0]), let at = Int64(fields[1]) else { continue }
                if applied >= version { found.confirmed.append(watcher) } else if at >= now - liveWindow.milliseconds { found.unconfirmed.append(watcher) }
            }
            found.confirmed.sort()
            found.unconfirmed.sort()
            if found.unconfirmed.isEmpty || ContinuousClock.now >= deadline { return found }
            try await Task.sleep(for: poll)
        }
    }
}
