import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMHTTP
import TMLocks
import TMPostgres
import TMSync

/// sync-consumer stores each account's funds (what pre-trade risk's buying power reads): replaced by
/// each sync in the sync's own fenced transaction, kept (with their old `as_of`) when the funds call
/// alone fails, and shown by `tm accounts show`.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SyncFundsTests {
    static let equity = BrokerFunds(segment: "equity", currency: "INR", available: 99_500.25, cash: 100_000, used: 499.75)
    static let commodity = BrokerFunds(segment: "commodity", currency: "INR", available: 0, cash: 0, used: 0)

    struct Line: Equatable {
        var segment: String, currency: String, available: Decimal, cash: Decimal?, used: Decimal?, total: Decimal?, asOf: Date
    }

    static func funds(_ f: SyncFixture) throws -> [Line] {
        let conn = try f.db.connect()
        defer { conn.close() }
        return try conn.query("SELECT * FROM account_funds WHERE account_id = \(f.account) ORDER BY segment, currency").rows.map {
            Line(segment: try $0.decode("segment"), currency: try $0.decode("currency"), available: try $0.decode("available"),
                 cash: try $0.decode("cash"), used: try $0.decode("used"), total: try $0.decode("total"), asOf: try $0.decode("as_of"))
        }
    }

    static func account(_ f: SyncFixture) throws -> (lastSync: Date?, outcome: String?, failures: Int, status: String) {
        let conn = try f.db.connect()
        defer { conn.close() }
        let row = try conn.query("SELECT last_sync_at, last_sync_outcome, consecutive_failures, status FROM broker_accounts WHERE id = \(f.account)").rows[0]
        return (try row.decode("last_sync_at"), try row.decode("last_sync_outcome"), try row.decode("consecutive_failures"), try row.decode("status"))
    }

    static func lastLog(_ f: SyncFixture) throws -> (outcome: String?, error: String?) {
        let conn = try f.db.connect()
        defer { conn.close() }
        let row = try conn.query("SELECT outcome, error FROM sync_logs WHERE account_id = \(f.account) ORDER BY id DESC LIMIT 1").rows[0]
        return (try row.decode("outcome"), try row.decode("error"))
    }

    @Test func fundsAreStoredWithTheSyncAndReplacedByTheNextOne() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(funds: [Self.equity, Self.commodity])
        f.broker.set(positions: [BrokerPosition(symbol: "INFY", exchange: "NSE", quantity: 10, averagePrice: 1500)])
        guard case .synced(let first) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(first.funds == 2 && first.fundsError == nil)
        var lines = try Self.funds(f)
        #expect(lines.map(\.segment) == ["commodity", "equity"])
        let equity = try #require(lines.last)
        #expect(equity.currency == "INR" && equity.available == Decimal(string: "99500.25") && equity.cash == 100_000
                && equity.used == Decimal(string: "499.75") && equity.total == nil)
        // Funds and positions are of the same sync: stamped with its transaction's time.
        let account = try Self.account(f)
        #expect(equity.asOf == account.lastSync)
        #expect(try f.count("SELECT count(*)::int FROM positions p JOIN account_funds a USING (account_id) WHERE p.as_of = a.as_of") == 2)
        #expect(try Self.lastLog(f).outcome == "ok" && account.outcome == "ok")

        // The next sync's answer replaces the lines: one changed, one the broker no longer reports gone.
        f.broker.set(funds: [BrokerFunds(segment: "equity", currency: "INR", available: 1_000, cash: 1_200, used: 200, total: 1_200)])
        guard case .synced(let second) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(second.funds == 1)
        lines = try Self.funds(f)
        #expect(lines.count == 1, "the commodity line the broker stopped reporting is gone")
        #expect(lines.first?.available == 1_000 && lines.first?.total == 1_200)
        #expect(lines.first?.asOf == (try Self.account(f).lastSync))
    }

    @Test func aBrokerWithOneAccountStoresItsLinesUnderTheEmptySegmentAlongsideItsFirstCalls() async throws {
        // Binance: the funds call goes out with the open orders and positions, before the per-symbol calls.
        let f = try await SyncFixture(broker: TestBroker(.binance))
        defer { Task { await f.cleanUp() } }
        f.broker.set(funds: [BrokerFunds(currency: "USDT", available: 150.5, used: 49.5, total: 200),
                             BrokerFunds(currency: "FDUSD", available: 10, used: 0, total: 10)])
        guard case .synced(let report) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(report.funds == 2)
        #expect(try Self.funds(f).map { "\($0.segment)|\($0.currency)|\($0.available)|\($0.total ?? -1)" } == ["|FDUSD|10|10", "|USDT|150.5|200"])
    }

    @Test func aFundsOnlyFailureKeepsThePreviousFundsAndTheRestOfTheSyncLands() async throws {
        let f = try await SyncFixture(broker: TestBroker(.upstox))
        defer { Task { await f.cleanUp() } }
        f.broker.set(funds: [Self.equity])
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        let before = try Self.funds(f)

        // Upstox's funds service is closed from midnight to 5:30 IST; orders, trades and positions answer.
        f.broker.failFunds(with: .unavailable(reason: "UDAPI100072: the funds service is not available now"))
        f.broker.set(funds: [BrokerFunds(segment: "equity", currency: "INR", available: 1)])
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 4, price: 1500)],
                     positions: [BrokerPosition(symbol: "INFY", exchange: "NSE", quantity: 4, averagePrice: 1500)])
        guard case .synced(let report) = try await f.sync() else { Issue.record("the sync was lost to the funds call"); return }
        #expect(report.created == 1 && report.positions == 1 && report.funds == 0)
        #expect(report.fundsError?.contains("UDAPI100072") == true, "\(report.fundsError ?? "no funds error")")
        #expect(try f.count("SELECT count(*)::int FROM trades") == 1, "the trade landed")
        #expect(try f.count("SELECT count(*)::int FROM positions WHERE quantity = 4") == 1, "the positions were replaced")
        #expect(try Self.funds(f) == before, "the previous funds kept, with their old as_of")
        let account = try Self.account(f)
        #expect(try #require(account.lastSync) > before[0].asOf, "the funds' age shows against the account's last sync")
        #expect(account.outcome == "partial" && account.failures == 0 && account.status == "active")
        let log = try Self.lastLog(f)
        #expect(log.outcome == "partial")
        #expect(log.error?.contains("funds not refreshed") == true && log.error?.contains("UDAPI100072") == true, "\(log.error ?? "")")

        // The service is back: the next sync refreshes them and is ok again.
        f.broker.failFunds(with: nil)
        guard case .synced(let again) = try await f.sync() else { Issue.record("not synced"); return }
        #expect(again.funds == 1 && again.fundsError == nil)
        #expect(try Self.funds(f).map(\.available) == [1])
        #expect(try Self.lastLog(f).outcome == "ok" && (try Self.account(f).outcome) == "ok")
    }

    @Test func refusedCredentialsFromTheFundsCallMarkTheAccountLikeAnyOtherCall() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(funds: [Self.equity])
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        f.broker.failFunds(with: .unauthorized(reason: "TokenException: token expired"))
        f.broker.set(trades: [SyncFixture.trade("T1", order: "O1", quantity: 4, price: 1500)])
        await #expect(throws: BrokerError.unauthorized(reason: "TokenException: token expired")) { _ = try await f.sync() }
        let account = try Self.account(f)
        #expect(account.status == "error" && account.outcome == "error")
        #expect(try f.count("SELECT count(*)::int FROM notifications WHERE kind = 'sync_error'") == 1)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 0, "nothing of the refused sync is written")
        #expect(try Self.funds(f).map(\.available) == [Self.equity.available])
    }

    @Test func aFencedOutSyncWritesNoFunds() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        let message = UUID().uuidString
        f.broker.set(funds: [Self.equity])
        guard case .synced = try await f.sync(slot: "2026-11-22T10:00:00Z", delivery: MessageFence(queue: "broker-sync", messageID: message, epoch: 2))
        else { Issue.record("not synced"); return }
        let stored = try Self.funds(f)
        f.broker.set(funds: [BrokerFunds(segment: "equity", currency: "INR", available: 1)])
        let stale = MessageFence(queue: "broker-sync", messageID: message, epoch: 1)
        await #expect(throws: LockError.staleFencingToken(resource: stale.resource, token: 1)) {
            _ = try await f.sync(slot: ISO8601DateFormatter().string(from: Date().addingTimeInterval(60)), delivery: stale)
        }
        #expect(try Self.funds(f) == stored, "the stale run's funds rolled back with the rest of it")
    }

    @Test func accountsShowListsTheFunds() async throws {
        let f = try await SyncFixture()
        defer { Task { await f.cleanUp() } }
        f.broker.set(funds: [Self.equity, Self.commodity])
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        let tm = TestServers.productsDirectory.appendingPathComponent("tm").path
        var env = ProcessInfo.processInfo.environment
        env["TM_ENV_FILE"] = "/nonexistent"
        env["TM_DATABASE_URL"] = f.db.url
        let id = f.account.uuidString.lowercased()
        let json = try await runProcess(tm, ["accounts", "show", id, "--json"], environment: env)
        #expect(json.status == 0, "\(json.output)")
        struct Shown: Decodable { var funds: [AccountAdministration.Funds] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        // The document alone (a log line on stderr may share the output).
        let document = try #require(json.output.firstIndex(of: "{").flatMap { start in json.output.lastIndex(of: "}").map { json.output[start...$0] } })
        let shown = try decoder.decode(Shown.self, from: Data(document.utf8))
        #expect(shown.funds.map(\.segment) == ["commodity", "equity"])
        #expect(shown.funds.last?.available == "99500.25" && shown.funds.last?.cash == "100000" && shown.funds.last?.used == "499.75")
        #expect(shown.funds.last?.total == nil && shown.funds.last?.currency == "INR")

        // A later sync without funds: the table shows their age, the account the reason.
        f.broker.failFunds(with: .unavailable(reason: "UDAPI100072"))
        guard case .synced = try await f.sync() else { Issue.record("not synced"); return }
        let text = try await runProcess(tm, ["accounts", "show", id], environment: env)
        #expect(text.status == 0, "\(text.output)")
        let asOf = ISO8601DateFormatter().string(from: try #require(try Self.funds(f).last?.asOf))
        #expect(text.output.contains("equity      INR       99500.25        100000          499.75          -               \(asOf)"), "\(text.output)")
        #expect(text.output.contains("last sync: funds not refreshed"), "\(text.output)")
    }
}

/// Funds through the real adapter against broker-sim: a fill changes them, and a funds outage keeps
/// the previous ones while the fill's trade lands.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SyncFundsSimulatorTests {
    func admin(_ sim: BrokerSimServer, _ method: HTTPMethod, _ path: String, _ body: String? = nil) throws {
        let response = try HTTPClient().send(HTTPRequest(method, sim.base + path, body: body.map { .json(Data($0.utf8)) } ?? .none))
        guard (200..<300).contains(response.status) else { throw BrokerSimServer.SimulatorRefused(reason: "\(path): HTTP \(response.status)") }
    }

    @Test func kiteFundsFollowAFillAndSurviveAFundsOutage() async throws {
        // Four syncs and two orders in about a second: past Kite's 10 reads a second, which is not what this is about.
        let sim = try BrokerSimServer(arguments: ["--no-rate-limits"])
        defer { sim.stop() }
        let f = try await SyncFixture(broker: TestBroker(.kite))
        defer { Task { await f.cleanUp() } }
        try sim.add(f, broker: .kite)
        let kite = KiteAdapter(baseURL: sim.base + "/kite", http: try AsyncHTTPClient())
        let consumer = try f.consumer(adapter: kite)
        let opening = Decimal(1_000_000)  // broker-sim's opening balance of a Kite account

        guard case .synced(let first) = try await f.sync(consumer: consumer) else { Issue.record("not synced"); return }
        #expect(first.funds == 2)
        var equity = try #require(try SyncFundsTests.funds(f).first { $0.segment == "equity" })
        #expect(equity.available == opening && equity.cash == opening && equity.used == 0 && equity.currency == "INR")

        // A market buy fills: the next sync's funds are what the fill spent less.
        _ = try await kite.placeOrder(OrderRequest(clientOrderID: "tmfunds1", symbol: "INFY", exchange: "NSE", side: .buy, quantity: 3, type: .market,
                                                   product: "CNC"), credentials: f.plainCredentials)
        guard case .synced = try await f.sync(consumer: consumer) else { Issue.record("not synced"); return }
        let spent = try spentOnBuys(f)
        #expect(spent > 0)
        equity = try #require(try SyncFundsTests.funds(f).first { $0.segment == "equity" })
        #expect(equity.available == opening - spent && equity.used == spent && equity.cash == opening, "\(equity) after spending \(spent)")
        let afterFill = try SyncFundsTests.funds(f)

        // The margins endpoint fails; the second fill's trade lands, the funds stay as the first fill left them.
        try admin(sim, .post, "/admin/faults", #"{"broker":"kite","endpoint":"GET /user/margins","status":503,"error_rate":1}"#)
        _ = try await kite.placeOrder(OrderRequest(clientOrderID: "tmfunds2", symbol: "INFY", exchange: "NSE", side: .buy, quantity: 2, type: .market,
                                                   product: "CNC"), credentials: f.plainCredentials)
        guard case .synced(let partial) = try await f.sync(consumer: consumer) else { Issue.record("the sync was lost to the funds call"); return }
        #expect(partial.fundsError != nil)
        #expect(try f.count("SELECT count(*)::int FROM trades") == 2, "the second fill landed")
        #expect(try SyncFundsTests.funds(f) == afterFill)
        #expect(try SyncFundsTests.lastLog(f).outcome == "partial")

        try admin(sim, .delete, "/admin/faults")
        guard case .synced(let healed) = try await f.sync(consumer: consumer) else { Issue.record("not synced"); return }
        #expect(healed.fundsError == nil)
        let total = try spentOnBuys(f)
        equity = try #require(try SyncFundsTests.funds(f).first { $0.segment == "equity" })
        #expect(total > spent && equity.available == opening - total, "\(equity) after spending \(total)")
    }

    func spentOnBuys(_ f: SyncFixture) throws -> Decimal {
        let conn = try f.db.connect()
        defer { conn.close() }
        return try conn.query("SELECT coalesce(sum(quantity * price), 0) AS spent FROM trades WHERE side = 'buy'").rows[0].decode("spent")
    }
}
