import Foundation
import Testing
import TestSupport
import TMQueue

@Suite struct QueueManifestTests {
    @Test func parsesEveryField() throws {
        let manifest = try QueueCatalog.parse("""
            name: orders
            shards: 8
            shard_by: account_id
            visibility_timeout: 30s
            max_deliveries: 5
            max_reclaims: 2
            backoff: {base: 500ms, cap: 30s, jitter: equal}
            max_length: 50_000
            max_payload_bytes: 16384
            concurrency: 4
            batch_size: 10
            retention: {completed: 7d, dead_letters: 30d}
            """, file: "Queues/orders.yaml")
        #expect(manifest.shards == 8 && manifest.shardBy == "account_id")
        #expect(manifest.visibilityTimeout == .seconds(30))
        #expect(manifest.maxDeliveries == 5 && manifest.maxReclaims == 2)
        #expect(manifest.backoff == .init(base: .milliseconds(500), cap: .seconds(30), jitter: .equal))
        #expect(manifest.maxLength == 50_000 && manifest.maxPayloadBytes == 16384)
        #expect(manifest.retention == .init(completed: .seconds(7 * 86_400), deadLetters: .seconds(30 * 86_400)))
    }

    @Test func defaultsWhenSilent() throws {
        let manifest = try QueueCatalog.parse("name: plain", file: "Queues/plain.yaml")
        #expect(manifest.maxDeliveries == 3)
        #expect(manifest.shards == 1)
        #expect(manifest.backoff.jitter == .full)
    }

    @Test(arguments: [
        ("shards: 2\nname: x", "Queues/x.yaml: shards", ""),
        ("name: x\nvisibility_timeout: soon", "Queues/x.yaml: visibility_timeout", "not a duration"),
        ("name: x\nmax_deliveries: 0", "Queues/x.yaml: max_deliveries", "out of range"),
        ("name: x\nmax_delivery: 3", "Queues/x.yaml: max_delivery", "unknown field"),
        ("name: x\nbackoff: {base: 10s, cap: 1s}", "Queues/x.yaml: backoff.cap", "below backoff.base"),
        ("name: x\nbackoff: {jitter: lots}", "Queues/x.yaml: backoff.jitter", "not one of"),
        ("name: x\nretention: {forever: 1d}", "Queues/x.yaml: retention.forever", "unknown field"),
        ("name: y", "Queues/x.yaml: name", "does not match the file name"),
        ("name: X!", "Queues/x.yaml: name", "lowercase"),
        ("description: no name", "Queues/x.yaml: name", "required"),
        ("name: x\nshard_by: account_id", "Queues/x.yaml: shard_by", "shards > 1"),
        ("- a\n- b", "Queues/x.yaml: (document)", "mapping"),
    ])
    func badManifestsNameTheFileTheFieldAndTheReason(_ yaml: String, _ prefix: String, _ reason: String) {
        do {
            _ = try QueueCatalog.parse(yaml, file: "Queues/x.yaml")
            if !reason.isEmpty { Issue.record("accepted: \(yaml)") }
        } catch {
            #expect("\(error)".hasPrefix(prefix), "\(error)")
            #expect("\(error)".contains(reason), "\(error)")
        }
    }

    @Test func theShippedQueuesLoad() throws {
        let catalog = try QueueCatalog.load(directory: TestServers.repositoryRoot.appendingPathComponent("Queues"))
        #expect(catalog.names == ["analytics", "broker-sync", "market-ticks", "notifications", "orders", "trade-events"])
        #expect(catalog["orders"]?.shards ?? 0 > 1)
        #expect(catalog["orders"]?.shardBy == "account_id")
    }

    @Test func backoffStaysWithinItsBounds() {
        let backoff = QueueManifest.Backoff(base: .seconds(1), cap: .seconds(10), jitter: .full)
        #expect(backoff.ceiling(forRetry: 1) == .seconds(1))
        #expect(backoff.ceiling(forRetry: 3) == .seconds(4))
        #expect(backoff.ceiling(forRetry: 10) == .seconds(10))
        for attempt in 1...8 {
            for _ in 0..<50 {
                let delay = backoff.delay(forRetry: attempt)
                #expect(delay >= .zero && delay <= backoff.ceiling(forRetry: attempt))
            }
        }
    }

    @Test func shardsAreStableAndSpread() {
        #expect(QueueKeys.shard(for: "acct-42", shards: 8) == QueueKeys.shard(for: "acct-42", shards: 8))
        let used = Set((0..<200).map { QueueKeys.shard(for: "acct-\($0)", shards: 8) })
        #expect(used.count == 8)
        #expect(QueueKeys(queue: "orders", shard: 3).stream == "tm:{orders.3}:stream")
    }
}
