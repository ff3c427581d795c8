import Foundation
import Testing
import TMPostgres
import TestSupport

@Suite struct PoolTests {
    @Test func concurrentWorkStaysWithinSize() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 2)
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await pool.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.05)").scalar(as: Int32.self)
                }
            }
            return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
        }
        #expect(pids.count >= 1 && pids.count <= 2)
        await pool.shutdown()
    }

    @Test func workRunsOnTheConnectionsOwnThread() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        var threads: Set<UInt> = []
        for _ in 0..<5 {
            threads.insert(try await pool.withConnection { _ in UInt(pthread_self()) })
            await Task.yield()
        }
        // One pooled connection, one dedicated thread, whichever task calls.
        #expect(threads.count == 1)
        await pool.shutdown()
    }

    /// Waits (boundedly) until `condition` holds; steps are driven by state, not by sleeps, so a
    /// loaded machine cannot reorder them.
    func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func waitersAreServedInOrder() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        let order = Order()
        let release = Gate()
        let holder = Task { try await pool.withConnection { _ in release.wait() } }
        try await eventually { pool.waitingCount == 0 && release.isWaiting }
        var waiters: [Task<Void, Error>] = []
        for i in 0..<4 {
            // Recorded while holding the (only) connection: the order the pool served them in, not
            // the order their tasks happened to resume in afterwards.
            waiters.append(Task { try await pool.withConnection { _ in order.append(i) } })
            try await eventually { pool.waitingCount == i + 1 }  // enqueue in a known order
        }
        release.open()
        _ = try await holder.value
        for w in waiters { try await w.value }
        #expect(order.values == [0, 1, 2, 3])
        await pool.shutdown()
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        let release = Gate()
        let holder = Task { try await pool.withConnection { _ in release.wait() } }
        try await eventually { release.isWaiting }
        let waiter = Task { try await pool.query("SELECT 1") }
        try await eventually { pool.waitingCount == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(pool.waitingCount == 0)
        release.open()
        _ = try await holder.value
        #expect(try await pool.query("SELECT 2").scalar(as: Int.self) == 2)
        await pool.shutdown()
    }

    @Test func transactionsAndLeftoverTransactions() async throws {
        struct Boom: Error {}
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        let table = uniqueName("pooltx")
        try await pool.withConnection { try $0.simpleQuery("CREATE TABLE \(table) (id int)") }
        await #expect(throws: Boom.self) {
            try await pool.transaction { tx in
                try tx.execute("INSERT INTO \(identifier: table) VALUES (\(1))")
                throw Boom()
            }
        }
        // A body that leaves BEGIN open must not leak the transaction to the next user.
        try await pool.withConnection { conn in
            try conn.simpleQuery("BEGIN")
            try conn.execute("INSERT INTO \(identifier: table) VALUES (\(2))")
        }
        #expect(try await pool.withConnection { $0.isInTransaction } == false)
        #expect(try await pool.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 0)
        let committed = try await pool.transaction { tx in
            try tx.execute("INSERT INTO \(identifier: table) VALUES (\(3))")
        }
        #expect(committed == 1)
        #expect(try await pool.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 1)
        await pool.shutdown()
    }

    @Test func connectionKilledWhileIdleIsReplacedOnCheckout() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 1)
        let before = try await pool.query("SELECT pg_backend_pid()").scalar(as: Int32.self)
        let admin = try TestServer.connect()
        #expect(try admin.query("SELECT pg_terminate_backend(\(before))").scalar(as: Bool.self))
        // Wait for the backend to be gone, so its socket is closed.
        for _ in 0..<100 {
            let alive = try admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = \(before)").scalar(as: Int.self)
            if alive == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(50))
        // No error: the dead connection is noticed before the statement is sent.
        let after = try await pool.query("SELECT pg_backend_pid()").scalar(as: Int32.self)
        #expect(after != before)
        await pool.shutdown()
    }

    @Test func shutdownRejectsLaterWork() async throws {
        let pool = PostgresPool(configuration: try TestServer.configuration(), size: 2)
        #expect(try await pool.query("SELECT 1").scalar(as: Int.self) == 1)
        await pool.shutdown()
        await #expect {
            try await pool.query("SELECT 1")
        } throws: { ($0 as? PostgresError)?.kind == .connection }
    }

    @Test(.timeLimit(.minutes(2)))
    func poolSurvivesServerRestart() async throws {
        let server = try EphemeralPostgres.start(database: "restart_test")
        defer { server.destroy() }
        let options = PostgresPool.Options(size: 3, reconnectBudget: .milliseconds(400))
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: server.url), options: options)
        let table = uniqueName("survive")
        try await pool.withConnection { try $0.simpleQuery("CREATE TABLE \(table) (id int)") }
        // Open all three connections.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<3 {
                group.addTask { try await pool.execute("INSERT INTO \(identifier: table) SELECT \(i) FROM pg_sleep(0.1)") }
            }
            try await group.waitForAll()
        }

        // A statement in flight when the server stops fails with .connection; it is not retried.
        let inFlight = Task { try await pool.query("SELECT pg_sleep(30)") }
        let admin = try PostgresConnection(configuration: try PostgresConfiguration(url: server.url))
        for _ in 0..<100 {
            let running = try admin.query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'").scalar(as: Int.self)
            if running > 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        admin.close()
        try server.stop()
        await #expect {
            try await inFlight.value
        } throws: { ($0 as? PostgresError)?.kind == .connection }

        // While the server is down, callers get a .connection error after the reconnect budget.
        await #expect {
            try await pool.query("SELECT 1")
        } throws: { ($0 as? PostgresError)?.kind == .connection }

        try server.start()
        // The same pool works again: every connection is reopened on its next checkout.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<9 {
                group.addTask { try await pool.query("SELECT \(i) + 0 FROM pg_sleep(0.02)").scalar(as: Int.self) }
            }
            var sum = 0
            for try await value in group { sum += value }
            #expect(sum == 36)
        }
        #expect(try await pool.query("SELECT count(*) FROM \(identifier: table)").scalar(as: Int.self) == 3)

        // A restart while idle: the next queries succeed without any error at all.
        try server.restart()
        for _ in 0..<6 {
            #expect(try await pool.query("SELECT 1").scalar(as: Int.self) == 1)
        }
        await pool.shutdown()
    }
}

final class Order: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [Int] = []
    var values: [Int] { lock.withLock { stored } }
    func append(_ value: Int) { lock.withLock { stored.append(value) } }
}

/// A one-shot gate a pooled connection's thread can block on, so a test decides when it is released.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var opened = false
    private var waiting = false

    var isWaiting: Bool { condition.lock(); defer { condition.unlock() }; return waiting }

    func wait() {
        condition.lock()
        waiting = true
        while !opened { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        opened = true
        condition.broadcast()
        condition.unlock()
    }
}
