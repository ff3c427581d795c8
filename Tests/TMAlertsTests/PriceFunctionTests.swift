import Foundation
import Testing
import TestSupport
import TMAlerts
import TMCore
import TMFunctionRuntime
import TMMarketData
import TMNotify
import TMQueue

/// The alert-evaluator function: tick records evaluated as one batch, a malformed tick failing only
/// its own record, sweep records running every registered sweep; and the executable itself.
@Suite(.serialized) struct PriceFunctionTests {
    struct CountingSweep: AlertSweep {
        let runs = Locked(0)
        var name: String { "counting" }
        func sweep(now: Date) async throws -> Int { runs.withLock { $0 += 1; return $0 } }
    }

    struct FailingSweep: AlertSweep {
        var name: String { "failing" }
        struct Broken: Error, CustomStringConvertible { var description: String { "broken on purpose" } }
        func sweep(now: Date) async throws -> Int { throw Broken() }
    }

    static func record(_ id: String, _ body: String, queue: String = "market-ticks") -> InvocationRecord {
        InvocationRecord(messageID: id, queue: queue, attempt: 1, epoch: 1, enqueuedAtMillis: 0, body: body)
    }

    static func request(_ records: [InvocationRecord]) -> InvocationRequest {
        InvocationRequest(invocationID: UUID().uuidString, function: "alert-evaluator", attempt: 1,
                          deadlineMillis: Int64(Date().timeIntervalSince1970 * 1000) + 60_000, records: records)
    }

    @Test func aMalformedTickFailsOnlyItsRecordAndSweepRecordsRunEverySweep() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let alert = try h.alert(h.symbol("FN"), "above", "100")
        let counting = CountingSweep()
        let evaluator = h.evaluator()
        let function = AlertEvaluatorFunction(evaluator: evaluator, sweeps: [PriceAlertSweep(evaluator: evaluator), counting])
        let good = h.tick(h.symbol("FN"), "101").json.text
        let other = h.tick(h.symbol("NONE"), "5").json.text
        let bad = #"{"symbol":"X","exchange":"NSE","price":"abc","source":"manual","at_ms":1}"#
        let sweep = #"{"schedule":"alerts-sweep","slot":"2026-12-05T04:00:00Z"}"#
        let request = Self.request([Self.record("1-0", good), Self.record("2-0", bad), Self.record("3-0", other),
                                    Self.record("4-0", sweep, queue: "fn:alert-evaluator")])
        let result = await function.handle(request, context: FunctionContext(request: request, logger: .init(label: "test")))
        #expect(result.status == .partial)
        #expect(result.failures?.count == 1)
        let failure = try #require(result.failures?.first)
        #expect(failure.messageID == "2-0" && !failure.retryable && failure.error.contains("price: not a decimal"), "\(failure)")
        #expect(try h.fireCount(alert) == 1)
        #expect(counting.runs.current == 1)
        #expect(result.results?["4-0"]?.contains("price: 0, counting: 1") == true, "\(String(describing: result.results))")

        // A failing sweep fails the sweep record, retryably, after the others ran.
        let failing = AlertEvaluatorFunction(evaluator: evaluator, sweeps: [FailingSweep(), counting])
        let again = Self.request([Self.record("5-0", sweep, queue: "fn:alert-evaluator")])
        let swept = await failing.handle(again, context: FunctionContext(request: again, logger: .init(label: "test")))
        #expect(swept.failures?.first?.retryable == true && swept.failures?.first?.error.contains("failing: broken on purpose") == true)
        #expect(counting.runs.current == 2)
    }

    /// The executable as the dispatcher runs it cold: one request on stdin, one result on stdout.
    @Test func theExecutableFiresAndRefusesAMalformedTick() async throws {
        let h = try await PriceHarness()
        defer { Task { await h.cleanUp() } }
        let alert = try h.alert(h.symbol("EXE"), "cross_down", "100", lastSeen: "120")
        let request = Self.request([Self.record("1-0", h.tick(h.symbol("EXE"), "99.5").json.text),
                                    Self.record("2-0", #"{"symbol":"X","exchange":"NSE","price":"1","source":"manual"}"#)])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("alert-evaluator-\(UUID().uuidString).json")
        try Data(try request.encodedLine()).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let executable = TestServers.productsDirectory.appendingPathComponent("alert-evaluator").path
        let environment = ["TM_ENV_FILE": "/dev/null", "TM_REDIS_URL": try TestServers.redisURL, "TM_DATABASE_URL": h.database.url,
                           "TM_QUEUES_DIR": TestServers.repositoryRoot.appendingPathComponent("Queues").path, "TM_FUNCTION": "alert-evaluator",
                           "PATH": "/usr/bin:/bin"]
        let run = try await runProcess("/bin/sh", ["-c", "exec '\(executable)' < '\(file.path)' 2>/dev/null"], environment: environment)
        #expect(run.status == 0, "\(run.output)")
        let result = try InvocationResult.parse(Array(run.output.utf8))
        #expect(result.status == .partial && result.failures?.map(\.messageID) == ["2-0"], "\(run.output)")
        #expect(result.failures?.first?.error.contains("at_ms") == true && result.failures?.first?.retryable == false)
        #expect(try h.fireCount(alert) == 1 && h.notifications(alert).count == 1)
        // Announced before the process exited (the announcer runs after the answer: `beforeExit`).
        let row: UUID = try h.db.query("SELECT id FROM notifications WHERE payload->>'alert_id' = \(alert.uuidString.lowercased())").rows[0].decode("id")
        let entries = try await h.redis.send("XRANGE", QueueKeys(queue: NotificationOutbox.queue, shard: 0).stream, "-", "+")
        let texts = (entries.array ?? []).flatMap { ($0.array?.last?.array ?? []).compactMap(\.string) }
        #expect(texts.contains { $0.contains(row.uuidString.lowercased()) }, "the fired notification is on notifications")
    }
}
