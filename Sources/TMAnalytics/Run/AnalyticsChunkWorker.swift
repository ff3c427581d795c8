import Foundation
import TMCore
import TMLocks
import TMPostgres

/// Works one chunk of a run: recomputes its pending users in batches, recording each batch done
/// before the next, then completes the run when no user of it is pending anywhere.
///
/// Guarantees: a redelivered chunk (after a crash, a timeout, a lost dispatcher) recomputes only
/// the users this run has not finished — those whose batch was interrupted before it was recorded
/// are the only ones recomputed twice; progress is written fenced by the delivery (`fence`), so
/// an old delivery paused past its redelivery records nothing; the run turns `done` exactly when
/// its last pending user is recorded, whichever chunk that is in.
public struct AnalyticsChunkWorker: Sendable {
    /// What working a chunk did.
    public struct Outcome: Sendable, Equatable, CustomStringConvertible {
        public var run: UUID
        public var chunk: Int
        /// Users recomputed by this delivery.
        public var recomputed: Int
        /// Users of the chunk an earlier delivery had finished (skipped).
        public var alreadyDone: Int
        public var fills: Int
        /// The run is not running (done, failed): nothing was done.
        public var runState: AnalyticsRunState
        /// This delivery finished the run.
        public var finishedRun: Bool

        public var description: String {
            let head = "run \(run.uuidString.lowercased()) chunk \(chunk)"
            if recomputed == 0 && alreadyDone == 0 && runState != .running && !finishedRun { return "\(head): the run is \(runState.rawValue); nothing to do" }
            return "\(head): \(recomputed) user(s) recomputed, \(alreadyDone) already done, \(fills) fill(s)" + (finishedRun ? "; run done" : "")
        }
    }

    public let pool: PostgresPool
    public let recomputer: any AnalyticsRecomputing
    public let batchUsers: Int
    /// Called after each batch is recorded, with the users recorded so far by this worker value's
    /// process (logging; the test fault hook of Functions/analytics-batch).
    public let afterBatch: (@Sendable (_ recorded: Int) async -> Void)?

    public init(pool: PostgresPool, recomputer: any AnalyticsRecomputing, batchUsers: Int = 50,
                afterBatch: (@Sendable (_ recorded: Int) async -> Void)? = nil) {
        self.pool = pool
        self.recomputer = recomputer
        self.batchUsers = max(1, batchUsers)
        self.afterBatch = afterBatch
    }

    private static let recorded = Locked(0)

    /// Works `chunk` of `run`. `fence`: the delivery's (nil only outside a queue, e.g. tests of the SQL).
    public func process(run: UUID, chunk: Int, fence: (any Fence)?) async throws -> Outcome {
        let (state, pending, total) = try await pool.withConnection { db -> (AnalyticsRunState?, [UUID], Int) in
            let run = try AnalyticsRunStore.run(db, id: run)
            guard let run, run.state == .running else { return (run?.state, [], 0) }
            let total = try db.query("SELECT count(*) AS n FROM analytics_run_users WHERE run_id = \(run.id) AND chunk = \(chunk)").rows[0].decode("n", as: Int.self)
            return (run.state, try AnalyticsRunStore.pendingUsers(db, run: run.id, chunk: chunk), total)
        }
        guard let state else { throw AnalyticsRunError.noRun(run) }
        var outcome = Outcome(run: run, chunk: chunk, recomputed: 0, alreadyDone: total - pending.count, fills: 0, runState: state, finishedRun: false)
        guard state == .running else { return outcome }
        let fences = fence.map { [$0] } ?? []
        for start in stride(from: 0, to: pending.count, by: batchUsers) {
            try Task.checkCancellation()
            let users = Array(pending[start..<min(start + batchUsers, pending.count)])
            try await pool.withConnection { try AnalyticsRunStore.recordAttempt($0, run: run, users: users) }
            let figures: RecomputeSummary
            do {
                figures = try await recomputer.recompute(users: users, runID: run)
            } catch {
                try? await pool.withConnection { try AnalyticsRunStore.noteFailure($0, run: run, error: "chunk \(chunk): \(error)") }
                throw error
            }
            let done = try await pool.transaction(fencedBy: fences) { db in
                try AnalyticsRunStore.markDone(db, run: run, users: users, fills: figures.fills)
            }
            outcome.recomputed += done
            outcome.fills += figures.fills
            let recorded = Self.recorded.withLock { $0 += done; return $0 }
            await afterBatch?(recorded)
        }
        outcome.finishedRun = try await pool.withConnection { try AnalyticsRunStore.completeIfFinished($0, run: run) }
        if outcome.finishedRun { outcome.runState = .done }
        return outcome
    }
}

public enum AnalyticsRunError: Error, CustomStringConvertible, Sendable, Equatable {
    case noRun(UUID)

    public var description: String {
        switch self {
        case .noRun(let id): return "run_id: no analytics run \(id.uuidString.lowercased())"
        }
    }
}
