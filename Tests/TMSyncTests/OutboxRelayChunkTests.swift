import Foundation
import Logging
import Testing
import TestSupport
import TMCore
import TMQueue
import TMRedis
@testable import TMSync

/// The relay's script calls are short: Redis runs one script at a time, so a call carrying
/// hundreds of messages holds every other caller (the order path's reads, admissions, settles)
/// for milliseconds. A call carries at most `chunk` messages, in whole rows (a larger row goes
/// alone); a pass still deletes what it took — and only that — after its last call.
@Suite(.serialized, .timeLimit(.minutes(2))) struct OutboxRelayChunkTests {
    /// The messages each script call carried, in call order (ARGV after the three shared values:
    /// per group its count, then id, key and payload per message).
    final class Calls: Sendable {
        private let counts = Locked<[Int]>([])
        var all: [Int] { counts.current }
        func record(_ commands: [RedisCommand]) {
            for command in commands where String(decoding: command.arguments[0].bytes, as: UTF8.self).uppercased() == "EVALSHA" {
                let words = command.arguments.map { String(decoding: $0.bytes, as: UTF8.self) }
                var index = 3 + (Int(words[2]) ?? 0) + 3, messages = 0
                while index < words.count, let count = Int(words[index]) {
                    messages += count
                    index += 1 + 3 * count
                }
                counts.withLock { $0.append(messages) }
            }
        }
    }

    /// An outbox publishing to the fixture's trade-events through a client whose calls are counted.
    private func observedOutbox(_ f: SyncFixture, maxLength: Int? = nil) async throws -> (TradeEventOutbox, Calls) {
        // The script loaded beforehand (one row relayed unobserved), so no call is sent twice
        // (NOSCRIPT, then again) and counted twice.
        _ = try insertRows(f, tag: "warm", sizes: [1])
        _ = await (try f.consumer().outbox).relay(logger: Logger(label: "test"))
        let calls = Calls()
        var configuration = try RedisConfiguration(url: try TestServers.redisURL)
        configuration.roundTripObserver = { calls.record($0) }
        let redis = try await RedisClient(configuration: configuration)
        var manifest = QueueManifest(name: f.tradeEvents)
        if let maxLength { manifest.maxLength = maxLength }
        var outbox = TradeEventOutbox(pool: f.pool, producer: QueueProducer(redis: redis, catalog: try QueueCatalog([manifest])))
        outbox.queue = f.tradeEvents
        return (outbox, calls)
    }

    /// Batch rows (as the order path writes them), one per entry of `sizes`, keyed `<tag>:<row>:<n>`;
    /// their keys in outbox order.
    private func insertRows(_ f: SyncFixture, tag: String, sizes: [Int]) throws -> [String] {
        let conn = try f.db.connect()
        defer { conn.close() }
        var all: [String] = []
        for (row, size) in sizes.enumerated() {
            let keys = (1...size).map { "\(tag):\(row):\($0)" }
            let pairs = keys.map { "[\"\($0)\", {\"event\": \"order.state\", \"n\": \"\($0)\"}]" }
            try conn.execute("""
                INSERT INTO trade_event_outbox (account_id, event_key, payload, messages)
                VALUES (NULL, \("batch:\(tag):\(row)"), \("[" + pairs.joined(separator: ",") + "]")::jsonb, \(Int32(size)))
                """)
            all += keys
        }
        return all
    }

    /// With the default chunk: 40 rows of 4 and one of 70 in the middle go out in order, no call
    /// past 32 messages but the large row's, which goes alone and whole; the outbox is emptied.
    @Test func aCallCarriesAtMostTheChunkInWholeRows() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let (outbox, calls) = try await observedOutbox(f)
        #expect(outbox.chunk == 32, "the documented default")
        let keys = try insertRows(f, tag: "chunk", sizes: Array(repeating: 4, count: 20) + [70] + Array(repeating: 4, count: 20))

        let report = await outbox.relay(logger: Logger(label: "test"))
        #expect(report.published == keys.count && report.kept == 0 && report.refusal == nil, "\(report)")
        #expect(try await f.publishedKeys().dropFirst() == keys[...])
        #expect(calls.all.reduce(0, +) == keys.count, "\(calls.all)")
        #expect(calls.all.allSatisfy { $0 <= 32 || $0 == 70 }, "\(calls.all)")
        #expect(calls.all.contains(70), "the large row whole, in one call: \(calls.all)")
        #expect(calls.all.count >= 6, "\(calls.all)")
        #expect(try f.count("SELECT count(*)::int FROM trade_event_outbox") == 0, "what was sent is deleted")
    }

    /// Chunks of 3, trade-events full at 7: the first two rows are taken by two calls, the third is
    /// refused whole. The taken rows are deleted (after the refusal, in the pass's one delete); the
    /// refused one and those after it wait, counted as kept.
    @Test func aRefusalAfterTakenCallsDeletesExactlyTheTakenRows() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let (observed, calls) = try await observedOutbox(f, maxLength: 7)
        var outbox = observed
        outbox.chunk = 3
        let keys = try insertRows(f, tag: "full", sizes: [3, 3, 3, 3])

        let report = await outbox.publish(account: nil, logger: Logger(label: "test"))
        #expect(report.published == 6 && report.kept == 6 && report.refusal != nil, "\(report)")
        #expect(calls.all == [3, 3, 3], "one row a call, the third refused: \(calls.all)")
        #expect(try await f.publishedKeys().dropFirst() == keys.prefix(6))
        let conn = try f.db.connect()
        defer { conn.close() }
        let left: [String] = try conn.query("SELECT event_key FROM trade_event_outbox ORDER BY id").rows.map { try $0.decode("event_key") }
        #expect(left == ["batch:full:2", "batch:full:3"], "the taken rows deleted, the rest kept")
    }

    /// The connection lost part way (the second call's reply never comes): the first call's row is
    /// deleted — its messages were taken — and the rest kept for a later pass, counted as kept (on a
    /// Redis of its own: it pauses every client).
    @Test func aConnectionLostPartWayDeletesExactlyTheTakenRows() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let server = try EphemeralRedis.start()
        defer { server.destroy() }
        let admin = UncheckedSendable(try RedisConnection(configuration: try RedisConfiguration(url: server.url)))
        let calls = Calls()
        let armed = Locked(false)
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .seconds(1)
        configuration.roundTripObserver = { commands in
            guard armed.current else { return }
            calls.record(commands)
            // Before the second call goes out: the server answers no one for 10 s (the wait for a reply gives up after 1 s, well before).
            if calls.all.count == 2 { _ = try? admin.value.send("CLIENT", "PAUSE", 10_000, "ALL") }
        }
        let redis = try await RedisClient(configuration: configuration)
        var outbox = TradeEventOutbox(pool: f.pool, producer: QueueProducer(redis: redis, catalog: try QueueCatalog([QueueManifest(name: f.tradeEvents)])))
        outbox.queue = f.tradeEvents
        outbox.chunk = 3
        // The script loaded beforehand (a row relayed unobserved), so no call is sent twice.
        _ = try insertRows(f, tag: "warm-lost", sizes: [1])
        _ = await outbox.relay(logger: Logger(label: "test"))
        armed.withLock { $0 = true }
        _ = try insertRows(f, tag: "lost", sizes: [3, 3, 3])

        let report = await outbox.publish(account: nil, logger: Logger(label: "test"))
        #expect(report.published == 3 && report.kept == 6 && report.refusal != nil, "\(report)")
        #expect(calls.all == [3, 3], "the third call never sent: \(calls.all)")
        let conn = try f.db.connect()
        defer { conn.close() }
        let left: [String] = try conn.query("SELECT event_key FROM trade_event_outbox ORDER BY id").rows.map { try $0.decode("event_key") }
        #expect(left == ["batch:lost:1", "batch:lost:2"], "the taken row deleted, the rest kept")
    }
}
