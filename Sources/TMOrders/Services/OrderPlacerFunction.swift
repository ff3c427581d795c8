import Foundation
import Logging
import TMCore
import TMFunctionRuntime
import TMQueue
import TMRisk

/// The cold `order-placer` function: the same placement as the resident worker, for deployments
/// without one. Each invocation loads the risk and routing state of its records' accounts, then
/// handles the records of one account in order (accounts side by side), each fenced by its
/// delivery's epoch; the accounts' writes share transactions through one `GroupCommit`.
///
/// Guarantees: exactly the worker's (`OrderPlacer`); a malformed record is dead-lettered with the
/// reason, the others of the batch carry on. Without shard leases, two invocations could hold one
/// account at once, so the function's manifest keeps `reserved_concurrency: 1`.
public struct OrderPlacerFunction: FunctionHandler {
    /// The state for these accounts, loaded per invocation.
    public typealias Prepare = @Sendable (_ accounts: [UUID]) async throws -> (any RiskGate, any RouteSource)
    /// The placer over that state (the services' adapters and queues).
    public typealias MakePlacer = @Sendable (any RiskGate, any RouteSource, Logger) -> OrderPlacer
    let prepare: Prepare
    let makePlacer: MakePlacer

    public init(prepare: @escaping Prepare, placer: @escaping MakePlacer) {
        self.prepare = prepare
        self.makePlacer = placer
    }

    /// As `Functions/order-placer` runs it: the services from the environment, each invocation's
    /// accounts read from rows.
    public init(services: OrderServices) {
        self.init(prepare: { accounts in
            let state = try ResidentState(pool: services.pool, redis: services.redis, environment: services.environment)
            try await state.load(accounts: accounts)
            return (state.risk, state.routes)
        }, placer: { services.placer(risk: $0, routes: $1, logger: $2) })
    }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        let accounts = Set(request.records.compactMap { OrderWorker.account(of: Array($0.body.utf8)).flatMap(UUID.init(uuidString:)) })
        let risk: any RiskGate, routes: any RouteSource
        do { (risk, routes) = try await prepare(accounts.sorted { $0.uuidString < $1.uuidString }) } catch {
            return .failed("loading the accounts' risk state: \(error)", retryable: true)
        }
        let placer = makePlacer(risk, routes, context.logger)
        // One lane per account, admitted in the batch's order; the lanes run side by side.
        let lanes = SerialLanes()
        let tickets = Dictionary(uniqueKeysWithValues: request.records.map {
            ($0.messageID, lanes.admit(OrderWorker.account(of: Array($0.body.utf8)) ?? ""))
        })
        // The records of different accounts share their transactions while one commits (`GroupCommit`).
        let commits = OrderCommits(pool: placer.pool, maxBatch: max(1, request.records.count))
        return await RecordHandler(concurrency: request.records.count) { record, context in
            let fences = PlacementFences(fences: [record.fence], commits: commits, firstDelivery: record.attempt == 1 && record.epoch == 1)
            let work = { try await placer.handle(Array(record.body.utf8), fences: fences).text }
            guard let ticket = tickets[record.messageID] else { return try await work() }
            return try await lanes.run(ticket, work)
        }.handle(request, context: context)
    }
}
