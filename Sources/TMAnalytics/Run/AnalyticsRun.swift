import Foundation

/// What started a run: the `analytics-nightly` schedule, or an operator (`tm analytics recompute`).
public enum AnalyticsRunKind: String, Sendable, Hashable, CaseIterable {
    case nightly, manual
}

/// Where a run is. `skipped`: a nightly slot that came while another run was still going (the
/// schedule's overlap policy `skip`); it recomputed nobody.
public enum AnalyticsRunState: String, Sendable, Hashable {
    case running, done, failed, skipped
}

/// What to do when a run is still going as another is asked for: the schedule's `overlap`.
/// `skip` (the nightly's): the new run is not started; `allow`: it starts anyway.
public enum AnalyticsRunOverlap: String, Sendable, Hashable, CaseIterable {
    case skip, allow
}

/// A request to start a run: a schedule's firing or an operator's.
public struct AnalyticsRunRequest: Sendable, Hashable {
    public var kind: AnalyticsRunKind
    /// The schedule slot (ISO 8601 UTC) of a nightly run: one slot is one run, however often it fires.
    public var slot: String?
    public var overlap: AnalyticsRunOverlap

    public init(kind: AnalyticsRunKind, slot: String? = nil, overlap: AnalyticsRunOverlap = .skip) {
        self.kind = kind
        self.slot = slot
        self.overlap = overlap
    }

    /// The run's identity in `analytics_runs.slot_key`: a nightly slot's, so firing it again finds
    /// the first run; nil for a manual run (every one is new).
    public var slotKey: String? {
        guard kind == .nightly, let slot else { return nil }
        return "nightly:\(slot)"
    }
}

/// One row of `analytics_runs` (migration 0020) with its chunk progress: what `tm analytics status` shows.
public struct AnalyticsRun: Sendable, Equatable {
    public var id: UUID
    public var kind: AnalyticsRunKind
    public var slot: String?
    public var state: AnalyticsRunState
    public var usersTotal: Int
    public var usersDone: Int
    public var chunksTotal: Int
    public var chunksDone: Int
    public var fills: Int64
    public var startedAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?
    public var error: String?

    public init(id: UUID, kind: AnalyticsRunKind, slot: String?, state: AnalyticsRunState, usersTotal: Int, usersDone: Int,
                chunksTotal: Int, chunksDone: Int, fills: Int64, startedAt: Date, updatedAt: Date, finishedAt: Date?, error: String?) {
        self.id = id
        self.kind = kind
        self.slot = slot
        self.state = state
        self.usersTotal = usersTotal
        self.usersDone = usersDone
        self.chunksTotal = chunksTotal
        self.chunksDone = chunksDone
        self.fills = fills
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.finishedAt = finishedAt
        self.error = error
    }
}

/// The one message of a run's chunk on the `analytics` queue: `{"run_id": "<uuid>", "chunk": <n>}`,
/// keyed `analytics-run:<run>:<chunk>` so fanning a run out again (a redelivered start) adds nothing.
public struct AnalyticsChunkMessage: Sendable, Hashable, Codable {
    public var runID: UUID
    public var chunk: Int

    public init(runID: UUID, chunk: Int) {
        self.runID = runID
        self.chunk = chunk
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case chunk
    }

    public var key: String { "analytics-run:\(runID.uuidString.lowercased()):\(chunk)" }
}
