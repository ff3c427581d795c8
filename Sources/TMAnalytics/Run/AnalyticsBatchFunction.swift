import Foundation
import TMCore
import TMFunctionRuntime
import TMPostgres
import TMQueue
import TMRedis

/// The `analytics-batch` function (Functions/analytics-batch). Its records are
/// - a run to start, from the `analytics-nightly` schedule (through `fn:analytics-batch`:
///   `{"run": "nightly", "slot": "<ISO time>", "overlap": "skip"}`) or `tm invoke`
///   (`{"run": "manual"}`): `AnalyticsRunStarter` starts it and fans its chunks out;
/// - a chunk of a run, from the `analytics` queue (`{"run_id", "chunk"}`): `AnalyticsChunkWorker`.
///
/// Guarantees: a record that cannot be read fails alone and is not retried, naming the field and
/// the reason; a chunk whose recomputation fails is retried (its finished users are skipped then).
public struct AnalyticsBatchFunction: FunctionHandler {
    public let starter: AnalyticsRunStarter
    public let worker: AnalyticsChunkWorker

    public init(starter: AnalyticsRunStarter, worker: AnalyticsChunkWorker) {
        self.starter = starter
        self.worker = worker
    }

    enum Work: Equatable {
        case start(AnalyticsRunRequest)
        case chunk(run: UUID, chunk: Int)
    }

    /// What one record asks for.
    static func work(of body: String) throws -> Work {
        guard let json = try? JSONValue.parse(body), json.objectFields != nil else { throw RecordRejected("(body): not a JSON object") }
        if let value = json["run_id"] {
            guard let text = value.stringValue, let run = UUID(uuidString: text) else { throw RecordRejected("run_id: '\(Self.shown(value))' is not a UUID") }
            guard let chunkValue = json["chunk"] else { throw RecordRejected("chunk: missing") }
            guard let chunk = chunkValue.intValue, chunk >= 0 else { throw RecordRejected("chunk: '\(Self.shown(chunkValue))' is not a chunk number (0 or more)") }
            return .chunk(run: run, chunk: chunk)
        }
        guard let value = json["run"] else { throw RecordRejected("run: missing (nightly or manual; or run_id and chunk)") }
        guard let text = value.stringValue, let kind = AnalyticsRunKind(rawValue: text) else {
            throw RecordRejected("run: '\(Self.shown(value))' is not a kind of run (nightly, manual)")
        }
        var request = AnalyticsRunRequest(kind: kind)
        if let overlap = json["overlap"] {
            guard let text = overlap.stringValue, let policy = AnalyticsRunOverlap(rawValue: text) else {
                throw RecordRejected("overlap: '\(Self.shown(overlap))' is not a policy a run follows (skip, allow)")
            }
            request.overlap = policy
        }
        if kind == .nightly {
            guard let slot = json["slot"] else { throw RecordRejected("slot: missing (a nightly run is one schedule slot)") }
            guard let text = slot.stringValue, ISO8601DateFormatter().date(from: text) != nil else {
                throw RecordRejected("slot: '\(Self.shown(slot))' is not an ISO 8601 time")
            }
            request.slot = text
        }
        return .start(request)
    }

    /// A value as an error shows it: a string without its quotes, anything else as JSON.
    static func shown(_ value: JSONValue) -> String { value.stringValue ?? value.text }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        await RecordHandler { record, context in
            switch try Self.work(of: record.body) {
            case .start(let run):
                let begun = try await starter.start(run)
                context.logger.info("analytics run", metadata: ["outcome": "\(Self.describe(begun))"])
                return Self.describe(begun)
            case .chunk(let run, let chunk):
                let outcome: AnalyticsChunkWorker.Outcome
                do {
                    outcome = try await worker.process(run: run, chunk: chunk, fence: record.fence)
                } catch let error as AnalyticsRunError {
                    throw RecordRejected("\(error)")
                }
                context.logger.info("analytics chunk", metadata: ["outcome": "\(outcome)"])
                return outcome.description
            }
        }.handle(request, context: context)
    }

    /// One line saying what a start did (the record's result, the CLI's answer).
    public static func describe(_ begun: AnalyticsRunStore.Begin) -> String {
        switch begun {
        case .started(let run):
            return "run \(run.id.uuidString.lowercased()) started (\(run.kind.rawValue)\(run.slot.map { " \($0)" } ?? "")): "
                + "\(run.usersTotal) user(s) in \(run.chunksTotal) chunk(s)" + (run.state == .done ? "; done (no users)" : "")
        case .existing(let run):
            return "run \(run.id.uuidString.lowercased()) already exists for slot \(run.slot ?? "-") (\(run.state.rawValue), \(run.usersDone)/\(run.usersTotal) users): nothing new"
        case .skipped(_, let running):
            return "skipped: run \(running.id.uuidString.lowercased()) is still running (\(running.usersDone)/\(running.usersTotal) users; overlap: skip)"
        }
    }
}

/// What analytics-batch opens once per (warm) process.
public enum AnalyticsBatchServices {
    /// The function's handler from its environment; `recomputer` makes the recomputation from the
    /// opened pool and Redis client (default: `AnalyticsPipeline`).
    public static func open(environment: TMEnvironment = .current(), process: [String: String] = ProcessInfo.processInfo.environment,
                            poolSize: Int = 4,
                            recomputer: (PostgresPool, RedisClient, TMEnvironment) throws -> any AnalyticsRecomputing = AnalyticsBatchServices.standardRecomputer,
                            afterBatch: (@Sendable (Int) async -> Void)? = nil) async throws -> AnalyticsBatchFunction {
        let settings = try AnalyticsRunSettings.fromEnvironment(process)
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "analytics-batch")
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: poolSize)
        let producer = QueueProducer(redis: redis, catalog: try QueueCatalog.load(environment: environment))
        return AnalyticsBatchFunction(
            starter: AnalyticsRunStarter(pool: pool, redis: redis, producer: producer, settings: settings),
            worker: AnalyticsChunkWorker(pool: pool, recomputer: try recomputer(pool, redis, environment), batchUsers: settings.batchUsers, afterBatch: afterBatch))
    }
}
