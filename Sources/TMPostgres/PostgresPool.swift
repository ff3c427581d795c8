import CLibpq
import Foundation
import TMCore

/// A small pool of Postgres connections for async code.
///
/// Guarantees:
/// - Each connection lives on its own `BlockingThread` and is only ever touched there, so libpq's
///   blocking calls never occupy Swift's cooperative pool and a connection is never used concurrently.
/// - At most `size` connections; they are opened lazily, on first use.
/// - Callers that find every connection busy wait in FIFO order (suspended, no spinning); a cancelled
///   waiter leaves the queue with `CancellationError`.
/// - On checkout a connection that the server closed while idle is noticed without a round trip and
///   replaced; opening retries with exponential backoff within `reconnectBudget`.
/// - A statement that fails because the connection dropped throws a `.connection` error and is not
///   retried (it may have run); the broken connection is replaced before its next use.
/// - A transaction left open by a `withConnection` body is rolled back before the connection is reused.
/// - `withConnection(_:then:)` hands the body's outcome on from the connection's thread, with the
///   connection already back in the pool: what `then` starts never holds a connection.
public final class PostgresPool: Sendable {
    /// Sizing and reconnection policy.
    public struct Options: Sendable {
        public var size: Int
        /// First wait between failed connection attempts; doubles up to `maximumBackoff`.
        public var initialBackoff: Duration
        public var maximumBackoff: Duration
        /// How long one checkout keeps trying to (re)open its connection before giving up with the
        /// last `.connection` error. Covers a server restart without failing the caller.
        public var reconnectBudget: Duration

        public init(
            size: Int = 4, initialBackoff: Duration = .milliseconds(50), maximumBackoff: Duration = .seconds(1),
            reconnectBudget: Duration = .seconds(5)
        ) {
            self.size = max(1, size)
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.reconnectBudget = reconnectBudget
        }
    }

    public let configuration: PostgresConfiguration
    public let options: Options
    private let slots: [Slot]
    private let state = Locked(State())

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Int, Error>
    }

    private struct State {
        var free: [Int] = []
        var waiters: [Waiter] = []  // FIFO
        var nextWaiterID: UInt64 = 0
        var isShutDown = false
    }

    public init(configuration: PostgresConfiguration, options: Options = Options()) {
        self.configuration = configuration
        self.options = options
        self.slots = (0..<options.size).map { Slot(index: $0) }
        // Reversed so popLast hands out slot 0 first and warm connections get reused.
        state.withLock { $0.free = Array((0..<options.size).reversed()) }
    }

    public convenience init(configuration: PostgresConfiguration, size: Int) {
        self.init(configuration: configuration, options: Options(size: size))
    }

    /// A pool for `TM_DATABASE_URL`.
    public static func fromEnvironment(_ env: TMEnvironment = .current(), options: Options = Options()) throws -> PostgresPool {
        PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(env), options: options)
    }

    deinit {
        // A BlockingThread keeps itself alive until shut down.
        for slot in slots { slot.thread.shutdown() }
    }

    // MARK: Public API

    /// Checks out a connection and runs `body` with it on the connection's own thread.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let index = try await acquire()
        defer { release(index) }
        let slot = slots[index]
        let configuration = configuration
        let options = options
        do {
            return try await slot.thread.run {
                try slot.use(configuration: configuration, options: options, body)
            }
        } catch is BlockingThread.Stopped {
            throw PostgresError.connection("connection pool is shut down")
        }
    }

    /// Checks out a connection, runs `body` with it on the connection's thread, and then — on that
    /// same thread, with no task in between — calls `then` with `body`'s outcome (after every answer
    /// `body` waited for: for a transaction, its COMMIT or sync point) and `answer`, which resumes the
    /// caller with the result. Before `then` runs the connection is tidied and back in the pool, so
    /// work `then` hands on (a job for another thread that calls `answer` when done) never holds it.
    /// `answer` may be called from any thread; only its first call counts. `then` must make sure it
    /// is called (or whoever it hands the work to does), else the caller waits forever; it has no
    /// cancellation handler, as `withConnection` has none once the connection is checked out.
    public func withConnection<T: Sendable, R: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T,
        then: @escaping @Sendable (Result<T, Error>, _ answer: @escaping @Sendable (Result<R, Error>) -> Void) -> Void
    ) async throws -> R {
        let index = try await acquire()
        let slot = slots[index]
        let configuration = configuration
        let options = options
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, Error>) in
            let answer = OneAnswer(continuation)
            let accepted = slot.thread.submit {
                let outcome = Result { try slot.use(configuration: configuration, options: options, body) }
                self.release(index)
                then(outcome, answer.resume)
            }
            if !accepted {
                release(index)
                continuation.resume(throwing: PostgresError.connection("connection pool is shut down"))
            }
        }
    }

    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresResult {
        try await withConnection { try $0.query(query) }
    }

    @discardableResult
    public func execute(_ query: PostgresQuery) async throws -> Int {
        try await withConnection { try $0.execute(query) }
    }

    /// Runs `body` in a transaction on one connection: COMMIT when it returns, ROLLBACK when it throws.
    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { try $0.transaction(body) }
    }

    /// `PostgresConnection.transaction(sentAsOne:_:)` on a pooled connection: a body that only sends
    /// its statements has them run without a BEGIN and a COMMIT, as the server's implicit transaction
    /// of one pipeline.
    public func transaction<T: Sendable>(
        sentAsOne: Bool, _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { try $0.transaction(sentAsOne: sentAsOne, body) }
    }

    /// `transaction(sentAsOne:_:)` whose outcome goes to `then` on the connection's thread (see
    /// `withConnection(_:then:)`): `then` sees the commit's own answer — a transaction that failed
    /// at its COMMIT or sync point is `then`'s failure, never its value.
    public func transaction<T: Sendable, R: Sendable>(
        sentAsOne: Bool, _ body: @escaping @Sendable (PostgresConnection) throws -> T,
        then: @escaping @Sendable (Result<T, Error>, _ answer: @escaping @Sendable (Result<R, Error>) -> Void) -> Void
    ) async throws -> R {
        try await withConnection({ try $0.transaction(sentAsOne: sentAsOne, body) }, then: then)
    }

    /// How many callers are waiting for a connection right now (for metrics and tests).
    public var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// How many connections are in the pool, not checked out, right now (for metrics and tests).
    public var availableCount: Int { state.withLock { $0.free.count } }

    /// Fails queued waiters, lets running work finish, closes every connection and stops the threads.
    /// Later calls throw a `.connection` error.
    public func shutdown() async {
        let waiters = state.withLock { state -> [Waiter] in
            state.isShutDown = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: PostgresError.connection("connection pool is shut down"))
        }
        for slot in slots {
            // Queued behind any running job on that thread, so in-flight statements complete first.
            _ = try? await slot.thread.run { slot.closeConnection() }
            slot.thread.shutdown()
        }
    }

    // MARK: Checkout

    private func acquire() async throws -> Int {
        let fast: Result<Int, Error>? = state.withLock { state in
            if state.isShutDown { return .failure(PostgresError.connection("connection pool is shut down")) }
            if let index = state.free.popLast() { return .success(index) }
            return nil
        }
        if let fast { return try fast.get() }

        let id = state.withLock { state -> UInt64 in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, Error>) in
                let immediate: Result<Int, Error>? = state.withLock { state in
                    if state.isShutDown { return .failure(PostgresError.connection("connection pool is shut down")) }
                    if let index = state.free.popLast() { return .success(index) }
                    // Checked under the lock: a cancellation that ran before we enqueued is not lost.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let position = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: position)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release(_ index: Int) {
        // Hand the slot straight to the oldest waiter, so a newcomer cannot overtake it.
        let waiter = state.withLock { state -> Waiter? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.free.append(index)
            return nil
        }
        waiter?.continuation.resume(returning: index)
    }
}

/// A continuation resumed by the first of any number of answers, from any thread.
private final class OneAnswer<R: Sendable>: Sendable {
    private let continuation: Locked<CheckedContinuation<R, Error>?>

    init(_ continuation: CheckedContinuation<R, Error>) {
        self.continuation = Locked(continuation)
    }

    func resume(_ result: Result<R, Error>) {
        let first = continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        first?.resume(with: result)
    }
}

/// One pooled connection and the thread that owns it. `connection` is only touched on `thread`,
/// which is what makes the unchecked Sendable sound.
private final class Slot: @unchecked Sendable {
    let thread: BlockingThread
    private var connection: PostgresConnection?

    init(index: Int) {
        thread = BlockingThread(name: "tm-postgres-\(index)")
    }

    /// Runs on `thread`.
    func use<T>(
        configuration: PostgresConfiguration, options: PostgresPool.Options,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        let connection = try ensureConnection(configuration: configuration, options: options)
        do {
            let value = try body(connection)
            tidy(connection)
            return value
        } catch {
            tidy(connection)
            throw error
        }
    }

    func closeConnection() {
        connection?.close()
        connection = nil
    }

    private func ensureConnection(configuration: PostgresConfiguration, options: PostgresPool.Options) throws -> PostgresConnection {
        if let connection {
            // No round trip: PQconsumeInput notices a socket the server closed while we were idle.
            if connection.isAlive { return connection }
            closeConnection()
        }
        let clock = ContinuousClock()
        let deadline = clock.now + options.reconnectBudget
        var delay = options.initialBackoff
        while true {
            do {
                let fresh = try PostgresConnection(configuration: configuration)
                connection = fresh
                return fresh
            } catch {
                // Give up once the next attempt would start after the budget; the caller gets the reason.
                guard clock.now + delay < deadline else { throw error }
                Thread.sleep(forTimeInterval: delay.seconds)
                delay = min(delay * 2, options.maximumBackoff)
            }
        }
    }

    /// Leaves the slot with a clean connection, or none if it is broken.
    private func tidy(_ connection: PostgresConnection) {
        // libpq's own view, no socket read: the next checkout's `isAlive` reads the socket anyway
        // (two `recvfrom`s per pooled job saved); a connection libpq knows is bad reports UNKNOWN.
        guard connection.transactionStatus != PQTRANS_UNKNOWN else {
            closeConnection()
            return
        }
        if connection.isInTransaction {
            do { try connection.simpleQuery("ROLLBACK") } catch { closeConnection() }
        }
    }
}
