import Foundation
import Logging
import TMCore
import TMFunctionRuntime
import TMQueue
import TMRedis

/// Everything one function needs inside a dispatcher: the invoker (cold or warm), its share of the
/// reserved concurrency, a batch collector, and the consumers of its queues.
///
/// Guarantees: no invocation starts without a concurrency slot from Redis; each record of a batch
/// is settled by its own outcome (a partial failure retries only the failed records); every
/// invocation is recorded, with its stderr kept under its invocation id.
final class FunctionService: Sendable {
    let manifest: FunctionManifest
    let invoker: any FunctionInvoking
    let concurrency: ReservedConcurrency
    let log: InvocationLog?
    private let logger: Logger
    private let counters = Locked<[InvocationOutcome.Kind: Int]>([:])
    private let batcher = Locked<BatchCollector?>(nil)

    init(manifest: FunctionManifest, invoker: any FunctionInvoking, redis: RedisClient, log: InvocationLog?,
         slotLease: Duration = ReservedConcurrency.defaultLease) {
        self.manifest = manifest
        self.invoker = invoker
        // Short leases renewed by the dispatcher: a dead dispatcher's slots are free within one lease.
        concurrency = ReservedConcurrency(function: manifest.name, limit: manifest.reservedConcurrency, lease: slotLease, redis: redis)
        self.log = log
        var logger = Logger(label: "tm.dispatch.\(manifest.name)")
        logger[metadataKey: "function"] = .string(manifest.name)
        self.logger = logger
        let collector = BatchCollector(size: manifest.batchSize, window: manifest.batchWindow) { [weak self] batch in
            await self?.invoke(batch)
        }
        batcher.withLock { $0 = collector }
    }

    /// The queue's batch handler: the deliveries of one read join batches together (one
    /// continuation for all of them) and each gets its batch's verdict on it.
    func handle(_ deliveries: [Delivery]) async -> [Result<String?, any Error>] {
        guard let batcher = batcher.current else { return deliveries.map { _ in .failure(CancellationError()) } }
        return await batcher.submit(deliveries)
    }

    var outcomeCounts: [InvocationOutcome.Kind: Int] { counters.current }

    /// One invocation's stages for `StageTrace`: each record read (its group submitted), the batch
    /// cut, a concurrency slot taken and the request sent, the answer back.
    private func trace(_ id: String, _ batch: [BatchCollector.Pending], cutAt: Double, sentAt: Double) {
        let records = batch.map { "[\"\($0.delivery.id)\",\(StageTrace.text($0.group.submittedAt))]" }.joined(separator: ",")
        StageTrace.write("dispatcher", "{\"invocation\":\"\(id)\",\"cut\":\(StageTrace.text(cutAt)),\"sent\":\(StageTrace.text(sentAt)),"
                         + "\"answered\":\(StageTrace.text(StageTrace.now())),\"records\":[\(records)]}")
    }

    private func invoke(_ waiting: [BatchCollector.Pending]) async {
        let cutAt = StageTrace.stamp()
        var batch = waiting
        let invocationID = UUID()
        let id = invocationID.uuidString.lowercased()
        let slot: String
        do {
            // Waiting for a slot ends when every handler of the batch is gone (a shutdown past its
            // grace cancels them: their messages stay pending for another dispatcher, no attempt used).
            guard let taken = try await concurrency.acquire(shouldStop: { waiting.allSatisfy(\.isAnswered) }) else { return }
            slot = taken
        } catch {
            let failure = FunctionFailure(reason: "could not take a concurrency slot: \(error)", isRetryable: true)
            for pending in batch { pending.answer(.failure(failure)) }
            return
        }
        // Handlers cancelled while the batch waited (a shutdown past its grace) left their messages
        // pending for another dispatcher: they are not run here too.
        batch = batch.filter { !$0.isAnswered }
        if batch.isEmpty {
            concurrency.release(slot)
            return
        }
        let startedAt = Date()
        let records = batch.map { pending in
            InvocationRecord(messageID: pending.delivery.id, key: pending.delivery.key, queue: pending.delivery.queue,
                             attempt: pending.delivery.attempt, epoch: pending.delivery.epoch, enqueuedAtMillis: Int64(pending.delivery.enqueuedAt.timeIntervalSince1970 * 1000),
                             body: String(decoding: pending.delivery.payload, as: UTF8.self))
        }
        let request = InvocationRequest(
            invocationID: id, function: manifest.name, attempt: records.map(\.attempt).max() ?? 1,
            deadlineMillis: Int64((startedAt.timeIntervalSince1970 + manifest.timeout.seconds) * 1000), records: records)
        let sentAt = StageTrace.stamp()
        let outcome = await invoker.invoke(request)
        concurrency.release(slot)
        if StageTrace.isOn { trace(id, batch, cutAt: cutAt, sentAt: sentAt) }
        counters.withLock { $0[outcome.kind, default: 0] += 1 }

        var failed = 0
        for pending in batch {
            if let failure = outcome.failure(of: pending.delivery.id) {
                failed += 1
                if let notBefore = failure.notBefore, failure.retryable {
                    pending.answer(.failure(FunctionDeferral(reason: failure.error, retryNotBefore: notBefore)))
                } else {
                    pending.answer(.failure(FunctionFailure(reason: failure.error, isRetryable: failure.retryable)))
                }
            } else {
                pending.answer(.success(outcome.result?.results?[pending.delivery.id]))
            }
        }
        let level: Logger.Level = outcome.kind == .ok ? .debug : .warning
        logger.log(level: level, "invoked", metadata: [
            "invocation_id": "\(id)", "outcome": "\(outcome.kind.rawValue)", "records": "\(batch.count)", "failed": "\(failed)",
            "duration_ms": "\(outcome.duration.milliseconds)", "cold": "\(outcome.cold)",
            "reason": "\(outcome.reason ?? "")",
        ])
        log?.record(InvocationEntry(
            id: invocationID, function: manifest.name, source: batch.first?.delivery.queue ?? "", attempt: request.attempt,
            records: batch.count, failed: failed, outcome: outcome, startedAt: startedAt))
    }
}
