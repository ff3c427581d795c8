import Foundation
import Logging
import TMCore
import TMPostgres

/// One finished invocation, as recorded in `function_invocations`.
public struct InvocationEntry: Sendable {
    public var id: UUID
    public var function: String
    public var source: String
    public var attempt: Int
    public var records: Int
    public var failed: Int
    public var outcome: InvocationOutcome
    public var startedAt: Date

    public init(id: UUID, function: String, source: String, attempt: Int, records: Int, failed: Int, outcome: InvocationOutcome, startedAt: Date) {
        self.id = id
        self.function = function
        self.source = source
        self.attempt = attempt
        self.records = records
        self.failed = failed
        self.outcome = outcome
        self.startedAt = startedAt
    }
}

/// Records invocations in Postgres off the hot path: `record` only appends to a buffer, and a
/// background task writes the buffer in multi-row inserts.
///
/// Guarantees: recording never delays or fails an invocation; while Postgres is unreachable at
/// most `bufferLimit` entries wait (older ones are dropped and counted in the log), because these
/// rows are observability — the invocation's effects and its message's outcome live elsewhere.
public final class InvocationLog: Sendable {
    private let pool: PostgresPool
    private let dispatcher: String
    private let bufferLimit: Int
    private let state = Locked(State())
    private let logger = Logger(label: "tm.functions.log")

    private struct State {
        var buffer: [InvocationEntry] = []
        var dropped = 0
        var writer: Task<Void, Never>?
    }

    public init(pool: PostgresPool, dispatcher: String, bufferLimit: Int = 10_000) {
        self.pool = pool
        self.dispatcher = dispatcher
        self.bufferLimit = bufferLimit
    }

    public func record(_ entry: InvocationEntry) {
        state.withLock { state in
            if state.buffer.count >= bufferLimit {
                state.buffer.removeFirst()
                state.dropped += 1
            }
            state.buffer.append(entry)
            if state.writer == nil { state.writer = Task { await self.writeLoop() } }
        }
    }

    /// Writes everything buffered so far (for shutdown and tests), waiting at most `timeout`: with
    /// Postgres unreachable, a shutdown must not hang on records (they are logged as lost).
    public func flush(timeout: Duration = .seconds(5)) async {
        let deadline = ContinuousClock.now + timeout
        while state.withLock({ $0.writer }) != nil {
            guard ContinuousClock.now < deadline else {
                let left = state.withLock { $0.buffer.count }
                logger.error("invocation records not written before shutdown", metadata: ["count": "\(left)"])
                return
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func writeLoop() async {
        var failures = 0
        while true {
            let batch = state.withLock { state -> [InvocationEntry] in
                let batch = Array(state.buffer.prefix(200))
                if batch.isEmpty { state.writer = nil }
                return batch
            }
            if batch.isEmpty { return }
            do {
                try await pool.execute(Self.insert(batch, dispatcher: dispatcher))
                state.withLock { $0.buffer.removeFirst(min(batch.count, $0.buffer.count)) }
                failures = 0
            } catch {
                failures += 1
                let dropped = state.withLock { $0.dropped }
                logger.warning("cannot record invocations; will retry", metadata: ["error": "\(error)", "buffered": "\(batch.count)", "dropped": "\(dropped)"])
                try? await Task.sleep(for: .milliseconds(min(100 * (1 << min(failures, 6)), 5_000)))
            }
        }
    }

    static func insert(_ batch: [InvocationEntry], dispatcher: String) -> PostgresQuery {
        var sql = """
            INSERT INTO function_invocations (id, function, source, attempt, records, failed, outcome, reason, cold,
              started_at, duration_ms, dispatcher, log_tail) VALUES
            """
        var binds: [PostgresData?] = []
        for (row, entry) in batch.enumerated() {
            let base = row * 13
            sql += (row == 0 ? " " : ", ") + "(" + (1...13).map { "$\(base + $0)" }.joined(separator: ", ") + ")"
            let millis = Decimal(entry.outcome.duration.components.seconds) * 1000
                + Decimal(entry.outcome.duration.components.attoseconds / 1_000_000_000_000) / 1000
            binds += [
                entry.id.postgresData(), entry.function.postgresData(), entry.source.postgresData(), entry.attempt.postgresData(),
                entry.records.postgresData(), entry.failed.postgresData(), entry.outcome.kind.rawValue.postgresData(),
                entry.outcome.reason?.postgresData(), entry.outcome.cold.postgresData(), entry.startedAt.postgresData(),
                millis.postgresData(), dispatcher.postgresData(),
                entry.outcome.logTail.isEmpty ? nil : entry.outcome.logTail.postgresData(),
            ]
        }
        sql += " ON CONFLICT (id) DO NOTHING"
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}
