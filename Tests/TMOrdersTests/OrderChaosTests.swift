import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMOrders
import TMPostgres
import TMQueue

/// The bounded chaos run of the order path, printed so `make test` shows it: thousands of orders
/// across many accounts while order-workers are SIGKILLed at random and restarted, and broker-sim
/// executes a tenth of the placements but drops their responses. At the end, whenever it settles:
/// exactly one broker order per idempotency key, every order row final or UNKNOWN with a reason,
/// and every key accounted for (an order row, or its message dead-lettered).
///
/// Kite accounts (one trader each, so the live router keeps each order at its account), the real
/// risk book. Sizes: `TM_CHAOS_ORDERS` (5000, the issue's; about 2½ minutes on a quiet 2-core
/// machine) and `TM_CHAOS_ACCOUNTS` (200).
///
/// What bounds it: Kite's circuit breaker is one for every account and process, and counts each
/// dropped response (an unknown outcome) as a failure, so now and then it opens for its cooldown
/// (15 s). An order refused by the open circuit — by the router or at admission, before anything
/// was sent — is deferred to when the circuit lets calls through again, without using up one of its
/// message's deliveries (`max_deferral` bounds that), so no order is dead-lettered because of the
/// open circuit; messages that run out of deliveries on unknown outcomes are dead-lettered, and the
/// workers' UNKNOWN sweep (backoff to 60 s) finishes their orders.
@Suite(.serialized) struct OrderChaosTests {
    @Test func chaosRunPlacesEveryOrderExactlyOnce() async throws {
        let env = ProcessInfo.processInfo.environment
        let orderCount = env["TM_CHAOS_ORDERS"].flatMap(Int.init) ?? 5000
        let accountCount = env["TM_CHAOS_ACCOUNTS"].flatMap(Int.init) ?? 200
        let workerCount = 3
        let start = ContinuousClock.now
        let h = try await WorkerHarness(accounts: accountCount, brokerTimeout: "2s")
        try h.fault(#"{"broker":"kite","endpoint":"POST /orders/regular","drop_rate":0.1}"#)
        let workers = Locked<[ChildProcess]>([])
        for _ in 0..<workerCount { let w = try h.startWorker(); workers.withLock { $0.append(w) } }

        // The orders, round-robin over the accounts, enqueued while the killing goes on.
        let orders: [PlaceOrder] = (0..<orderCount).map { n in
            let account = h.accounts[n % accountCount]
            return PlaceOrder(idempotencyKey: "chaos-\(n)", accountID: account, symbol: "INFY", exchange: "NSE", side: n % 2 == 0 ? .buy : .sell,
                              quantity: Decimal(1 + n % 5), type: n % 3 == 0 ? .market : .limit, limitPrice: n % 3 == 0 ? nil : 100)
        }
        let intake = OrderIntake(db: try h.database.connect(), producer: h.producer, queue: h.queue)
        defer { intake.db.close() }

        // Enqueue in batches and, every ~2 s, SIGKILL a random worker and start another in its place,
        // until every order has a row past SUBMITTING (or the chaos phase's bound); then let it
        // settle without kills.
        var kills = 0, next = 0
        var lastKill = ContinuousClock.now
        let chaosEnd = ContinuousClock.now + .seconds(100)
        while ContinuousClock.now < chaosEnd {
            if next < orders.count {
                for order in orders[next..<min(next + 50, orders.count)] { _ = try await intake.submit(.place(order)) }
                next = min(next + 50, orders.count)
            } else {
                try await Task.sleep(for: .milliseconds(250))
            }
            if ContinuousClock.now - lastKill >= .seconds(2) {
                let victim = workers.withLock { $0.remove(at: Int.random(in: 0..<$0.count)) }
                victim.kill()
                kills += 1
                let fresh = try h.startWorker()
                workers.withLock { $0.append(fresh) }
                lastKill = ContinuousClock.now
            }
            if next == orders.count,
               try h.count("SELECT count(*) FROM orders WHERE state NOT IN ('SUBMITTING', 'RECEIVED', 'ROUTED')") == orderCount { break }
        }
        while next < orders.count {
            _ = try await intake.submit(.place(orders[next]))
            next += 1
        }
        let chaosPhase = ContinuousClock.now - start

        let dlq = try h.deadLetters
        var dead: Set<String> = []
        try await eventually("the order path to settle", within: .seconds(420)) {
            guard try await h.backlogDone(), try h.count("SELECT count(*) FROM orders WHERE state IN ('SUBMITTING', 'RECEIVED', 'ROUTED')") == 0 else {
                return false
            }
            dead = Set(try await dlq.list().compactMap { letter in
                (try? JSONValue.parse(letter.payload))?["idempotency_key"]?.stringValue
            })
            let rows = Set(try h.rows().map(\.key))
            return orders.allSatisfy { rows.contains($0.idempotencyKey) || dead.contains($0.idempotencyKey) }
        }
        // UNKNOWN orders keep being looked up by the workers' sweep: give them a while (not required),
        // then stop the workers (SIGTERM: in-flight calls finish) so the counts below hold still.
        try? await eventually("UNKNOWN orders resolved", within: .seconds(20)) { try h.count("SELECT count(*) FROM orders WHERE state = 'UNKNOWN'") == 0 }
        for worker in workers.withLock({ $0 }) { worker.terminate(grace: .seconds(30)) }
        let elapsed = ContinuousClock.now - start

        // Broker-sim's truth, per key.
        var duplicates = 0, missing: [String] = [], strangers = 0
        let rows = Dictionary(try h.rows().map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for account in h.accounts {
            var truth = try h.brokerOrders(account)
            for order in orders where order.accountID == account {
                let count = truth.removeValue(forKey: h.clientID(order.idempotencyKey)) ?? 0
                if count > 1 { duplicates += count - 1 }
                let state = rows[order.idempotencyKey]?.state
                if count == 0, let state, ["ACCEPTED", "PARTIALLY_FILLED", "FILLED"].contains(state) { missing.append(order.idempotencyKey) }
            }
            strangers += truth.values.reduce(0, +)
        }
        let states = try h.db.query("SELECT state, count(*)::int AS n FROM orders GROUP BY state ORDER BY state").rows
            .map { "\(try $0.decode("state", as: String.self)) \(try $0.decode("n", as: Int.self))" }
        let refusals = try h.db.query("SELECT reject_code, count(*)::int AS n FROM orders WHERE reject_code IS NOT NULL GROUP BY 1 ORDER BY 1").rows
            .map { "\(try $0.decode("reject_code", as: String.self)) \(try $0.decode("n", as: Int.self))" }
        let unknownWithoutReason = try h.count("SELECT count(*) FROM orders WHERE state = 'UNKNOWN' AND unknown_reason IS NULL")
        let unsettled = try h.count("SELECT count(*) FROM orders WHERE state NOT IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED', 'RISK_REJECTED', 'EXPIRED', 'UNKNOWN')")
        let resent = try h.count("SELECT count(*) FROM orders WHERE submit_attempts > 1")
        // Why orders were dead-lettered, by reason and the start of the last error (no ids: they vary).
        var whys: [String: Int] = [:], reasons: [String: Int] = [:]
        var byOpenCircuit = 0
        for letter in try await dlq.list() {
            let error = letter.error.replacingOccurrences(of: "[0-9a-f]{8}-[0-9a-f-]{27}", with: "<id>", options: .regularExpression)
            whys["\(letter.reason): \(error.prefix(70))", default: 0] += 1
            reasons[letter.reason, default: 0] += 1
            if letter.error.contains("circuit open") || letter.error.contains("circuit is open") { byOpenCircuit += 1 }
        }
        let deadWhy = whys.sorted { $0.value > $1.value }.prefix(4).map { "\($0.value)× \($0.key)" }.joined(separator: "; ")
        let deadReasons = reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        // Messages the workers deferred (refused unsent: the circuit open), from every worker's log.
        let deferrals = ((try? FileManager.default.contentsOfDirectory(atPath: h.logDirectory.path)) ?? []).filter { $0.hasPrefix("worker-") }
            .map { (try? String(contentsOfFile: h.logDirectory.appendingPathComponent($0).path, encoding: .utf8)) ?? "" }
            .reduce(0) { $0 + $1.components(separatedBy: "the attempt is not counted").count - 1 }
        let drops = ((try? String(contentsOfFile: h.simulatorLog, encoding: .utf8)) ?? "").components(separatedBy: "dropAfterExecute").count - 1
        print("""
            order-path chaos: \(orderCount) orders across \(accountCount) accounts (kite), \(workerCount) order-workers, \
            \(kills) SIGKILLs, \(drops) responses dropped after executing (10%); \
            states: \(states.joined(separator: ", ")); refusals: \(refusals.isEmpty ? "none" : refusals.joined(separator: ", ")); resent after a look-up found nothing: \(resent); \
            deferred while the circuit was open (not counted): \(deferrals); \
            dead-lettered keys: \(dead.count), by reason: \(deadReasons.isEmpty ? "none" : deadReasons), by an open circuit: \(byOpenCircuit)\(deadWhy.isEmpty ? "" : " (\(deadWhy))"); duplicates: \(duplicates); missing at the broker: \(missing.count); \
            chaos phase \(DurationText.format(chaosPhase)), elapsed \(DurationText.format(elapsed))
            """)
        #expect(duplicates == 0, "keys with more than one broker order")
        #expect(strangers == 0, "broker orders of no key")
        #expect(missing.isEmpty, "placed locally but not at the broker: \(missing.prefix(5))")
        #expect(unknownWithoutReason == 0)
        #expect(byOpenCircuit == 0, "an order refused by an open circuit (nothing sent) waits for the broker; it is never dead-lettered for it")
        #expect(unsettled == 0)
        #expect(try h.count("SELECT count(*) FROM orders WHERE state = 'RISK_REJECTED'") == 0, "the risk book refused orders: the run would prove nothing")
        #expect(kills > 0)
        await h.cleanUp()
    }
}
