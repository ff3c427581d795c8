import Foundation
import Logging
import Testing
import TestSupport
import TMCore
import TMCrypto
import TMMarketData
import TMPostgres
import TMQueue
import TMSync

/// `tm accounts add --broker manual`, `tm trades import` as a user runs them, and what a manual
/// account is refused or spared: sync (trigger and consumer), market data and the order path.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ImportCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    /// The repository's queues plus the fixture's scratch `trade-events`, so the CLI publishes there.
    func queues(_ f: ImportFixture) throws -> URL {
        let directory = f.directory.appendingPathComponent("Queues")
        if FileManager.default.fileExists(atPath: directory.path) { return directory }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for name in try FileManager.default.contentsOfDirectory(atPath: repository.appendingPathComponent("Queues").path) where name.hasSuffix(".yaml") {
            try FileManager.default.copyItem(at: repository.appendingPathComponent("Queues").appendingPathComponent(name),
                                             to: directory.appendingPathComponent(name))
        }
        try "name: \(f.events)\nmax_length: 500000\n".write(to: directory.appendingPathComponent("\(f.events).yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    func run(_ f: ImportFixture, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = f.db.url
        environment["TM_QUEUES_DIR"] = try queues(f).path
        return try await runProcess(tm, arguments, environment: environment)
    }

    @Test func aManualAccountTakesAFileOnceAndRefusesABadOne() async throws {
        let f = try await ImportFixture()
        let added = try await run(f, ["accounts", "add", "--user", f.email, "--broker", "manual", "--label", "paper"])
        #expect(added.status == 0 && added.output.hasPrefix("added manual account "), "\(added.output)")
        let account = try #require(added.output.split(separator: " ").dropFirst(3).first.map(String.init))
        #expect(try f.count("SELECT count(*)::int FROM broker_accounts WHERE id = '\(account)' AND broker = 'manual' AND api_key_sealed IS NULL") == 1)
        let withCredentials = try await run(f, ["accounts", "add", "--user", f.email, "--broker", "manual", "--label", "x", "--credentials", "/dev/null"])
        #expect(withCredentials.status != 0 && withCredentials.output.contains("a manual account has none"), "\(withCredentials.output)")

        let good = try f.file(ImportFixture.good)
        let first = try await run(f, ["trades", "import", "--account", account, good, "--events-queue", f.events, "--json"])
        #expect(first.status == 0, "\(first.output)")
        let json = try JSONValue.parse(first.output)
        #expect(json["report"]?["created"] == .number("3") && json["published"] == .number("3") && json["waiting"] == .number("0"), "\(first.output)")
        #expect(try await f.streamLength(f.events) == 3, "one trade-events message per imported trade")

        let again = try await run(f, ["trades", "import", "--account", account, good, "--events-queue", f.events])
        #expect(again.status == 0 && again.output.contains("0 new, 0 corrected, 3 already stored"), "\(again.output)")
        #expect(try await f.streamLength(f.events) == 3)

        let bad = try f.file(ImportFixture.good.replacingOccurrences(of: "sell,10.5,1510", with: "sell,-10.5,1510") + "MSFT,NASDAQ,buy,1,400,0,2026-01-07T15:00:00Z,T4,\n")
        let refused = try await run(f, ["trades", "import", "--account", account, bad, "--events-queue", f.events])
        #expect(refused.status != 0, "\(refused.output)")
        #expect(refused.output.contains("line 3, quantity: must be > 0 (got -10.5)") && refused.output.contains("nothing imported: 1 bad row(s) of 4"), "\(refused.output)")
        #expect(try f.count("SELECT count(*)::int FROM trades WHERE broker_trade_id = 'T4'") == 0)
        let skipped = try await run(f, ["trades", "import", "--account", account, bad, "--events-queue", f.events, "--skip-bad"])
        #expect(skipped.status == 0 && skipped.output.contains("1 new, 0 corrected, 2 already stored, 1 bad row(s) skipped, of 4 row(s)"), "\(skipped.output)")
        #expect(try await f.streamLength(f.events) == 4)

        let synced = try await run(f, ["trades", "import", "--account", f.account.uuidString, "/no/such/file.csv"])
        #expect(synced.status != 0 && synced.output.contains("file: cannot read /no/such/file.csv"), "\(synced.output)")
        await f.cleanUp()
    }

    @Test func theOrderPathRefusesAManualAccount() async throws {
        let f = try await ImportFixture()
        let conn = try f.db.connect()
        defer { conn.close() }
        try conn.execute("INSERT INTO instruments (exchange, symbol, lot_size, tick_size) VALUES ('NSE', 'INFY', 1, 0.05)")
        let placed = try await run(f, ["orders", "place", "--account", f.account.uuidString, "--symbol", "INFY", "--exchange", "NSE",
                                       "--side", "buy", "--qty", "1", "--queue", f.events])
        #expect(placed.status != 0, "\(placed.output)")
        #expect(placed.output.contains("is a manual account") && placed.output.contains("orders cannot be placed"), "\(placed.output)")
        #expect(try await f.streamLength(f.events) == 0, "nothing enqueued")
        await f.cleanUp()
    }

    @Test func syncNeitherSchedulesNorCallsABrokerForAManualAccount() async throws {
        let f = try await ImportFixture()
        let conn = try f.db.connect()
        defer { conn.close() }
        // Both due; only the kite account is scheduled.
        let kite = try f.syncedAccount()
        try conn.execute("UPDATE broker_accounts SET next_sync_at = now() - interval '1 minute'")
        let queue = TestServers.uniqueName("broker-sync").replacingOccurrences(of: "_", with: "-")
        let producer = QueueProducer(redis: f.redis, catalog: try QueueCatalog([QueueManifest(name: queue), QueueManifest(name: f.events)]))
        var trigger = SyncTrigger(pool: f.pool, producer: producer)
        trigger.queue = queue
        let report = try await trigger.run(slot: Date(), logger: Logger(label: "test"))
        #expect(report.due == 1 && report.enqueued == 1)
        let payload = try await f.redis.send("XRANGE", QueueKeys(queue: queue, shard: 0).stream, "-", "+").array?.first?.array?[1].array
        #expect(payload?.compactMap(\.string).contains { $0.contains(kite.uuidString.lowercased()) } == true, "\(String(describing: payload))")
        _ = try? await f.redis.send("DEL", QueueKeys(queue: queue, shard: 0).stream)

        // A sync message for it anyway (enqueued by hand): skipped with the reason, no broker asked.
        let consumer = SyncConsumer(pool: f.pool, redis: f.redis, producer: producer, keyring: try SecretKeyring(current: try SecretKey.generate())) { _ in
            fatalError("a manual account has no broker to call")
        }
        let outcome = try await consumer.sync(SyncTrigger.Message(accountID: f.account, slot: ISO8601DateFormatter().string(from: Date())),
                                              delivery: MessageFence(queue: queue, messageID: UUID().uuidString, epoch: 1), logger: Logger(label: "test"))
        #expect(outcome == .skipped("account is a manual account (its trades are imported with tm trades import; there is no broker to call)"))
        await f.cleanUp()
    }

    @Test func marketDataNeverPricesThroughAManualAccount() async throws {
        let f = try await ImportFixture()
        // Named in market-data.yaml, or the only account of the user: a manual account is no kite account to price with.
        let providers = PriceProviders(pool: f.pool, redis: f.redis, keyring: try SecretKeyring(current: try SecretKey.generate()),
                                       accounts: [.kite: f.account]) { _ in fatalError("a manual account has no broker to call") }
        let resolved = try await providers.resolve([.kite])
        guard case .failure(let unavailable)? = resolved[.kite] else { Issue.record("priced through \(String(describing: resolved[.kite]))"); return }
        #expect(unavailable.reason == "kite: account \(f.account.uuidString.lowercased()) (accounts.kite in market-data.yaml) is not an active kite account")
        await f.cleanUp()
    }
}
