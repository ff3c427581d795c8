import Foundation
import Logging
import Testing
import TestSupport
@testable import TMSync

/// What an operator sees of the relay's quarantine and does about it, through `tm`: `tm doctor`
/// warns and names the row and the remedy, `tm queues outbox` lists, replays and drops.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RelayQuarantineCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    @Test func doctorShowsTheQuarantineAndTheOperatorReplaysTheFixedRow() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        // A manifest folder of one idle queue: the doctor's queue check has nothing of other tests to flag.
        let manifests = FileManager.default.temporaryDirectory.appendingPathComponent("relay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: manifests, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: manifests) }
        try "name: \(manifests.lastPathComponent)\n".write(to: manifests.appendingPathComponent("idle.yaml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = f.db.url
        environment["TM_SECRET_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        environment["TM_QUEUES_DIR"] = manifests.path
        environment["TM_FUNCTIONS_DIR"] = manifests.path
        func run(_ arguments: String...) async throws -> (status: Int32, output: String) {
            try await runProcess(tm, arguments, environment: environment)
        }

        let healthy = try await run("doctor")
        #expect(healthy.output.contains("✔ outbox") && healthy.output.contains("none quarantined"), "\(healthy.output)")
        // The database as the URL that reaches it: a socket directory as host percent-encoded.
        #expect(healthy.output.contains("at \(f.db.url) ("), "\(healthy.output)")

        let db = try f.db.connect()
        defer { db.close() }
        let account = f.account.uuidString.lowercased()
        let good = "order:c:1\t{\"event\":\"order.state\",\"account_id\":\"\(account)\"}"
        let bad: Int64 = try db.query("""
            INSERT INTO trade_event_outbox (account_id, event_key, batch, messages)
            VALUES (NULL, 'order-events:c', \(good + "\n{\"account_id\":\"\(account)\"}"), 2) RETURNING id
            """).rows[0].decode("id")
        let outbox = try f.consumer().outbox
        #expect(await outbox.relay(logger: Logger(label: "test")).quarantined == 1)

        let warned = try await run("doctor")
        #expect(warned.status == 0, "a warning, not a failure: \(warned.output)")
        #expect(warned.output.contains("⚠ outbox") && warned.output.contains("trade_event_outbox row \(bad): line 2")
                && warned.output.contains("tm queues outbox replay ID"), "\(warned.output)")
        #expect(try await run("doctor", "--strict").status == 1)

        let listed = try await run("queues", "outbox")
        #expect(listed.status == 0 && listed.output.contains("\(bad)  malformed  2 message(s)") && listed.output.contains("line 2 of its batch has no key"),
                "\(listed.output)")
        let shown = try await run("queues", "outbox", "show", "\(bad)")
        #expect(shown.status == 0 && shown.output.hasPrefix(good), "\(shown.output)")

        let fixedFile = FileManager.default.temporaryDirectory.appendingPathComponent("relay-fixed-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: fixedFile) }
        try Data((good + "\norder:c:2\t{\"account_id\":\"\(account)\"}\n").utf8).write(to: fixedFile)
        let missing = try await run("queues", "outbox", "drop", "\(bad + 1000)")
        #expect(missing.status == 1 && missing.output.contains("no quarantined"), "\(missing.output)")
        let unreadable = try await run("queues", "outbox", "replay", "\(bad)", "--batch-file", fixedFile.path + ".missing")
        #expect(unreadable.status == 1 && unreadable.output.contains("batch-file") && unreadable.output.contains("nothing was changed"),
                "\(unreadable.output)")
        let replayed = try await run("queues", "outbox", "replay", "\(bad)", "--batch-file", fixedFile.path)
        #expect(replayed.status == 0 && replayed.output.contains("row \(bad) is back in the outbox with 2 message(s)"), "\(replayed.output)")

        #expect(await outbox.relay(logger: Logger(label: "test")).published == 2)
        #expect(try await f.publishedKeys() == ["order:c:1", "order:c:2"])
        let calm = try await run("doctor")
        #expect(calm.output.contains("✔ outbox"), "\(calm.output)")
        #expect(try await run("queues", "outbox").output.contains("no trade_event_outbox row is quarantined"))
    }
}
