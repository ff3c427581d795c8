import Foundation
import TMCore
import TMFunctionRuntime
import TMMarketData

/// The `alert-evaluator` function: a batch of `market-ticks` records is evaluated as one batch
/// (crosses through the ticks in order, levels at each instrument's latest price); an
/// `alerts-sweep` record (`{"schedule": ..., "slot": ...}`) runs every registered sweep.
///
/// Guarantees: a malformed tick fails only its own record, not retryably, naming the field; a
/// batch the database refused fails its tick records retryably (firing is exactly once, so a retry
/// cannot fire twice); a sweep that fails does not stop the others, and fails its record retryably.
public struct AlertEvaluatorFunction: FunctionHandler {
    let evaluator: PriceAlertEvaluator
    let sweeps: [any AlertSweep]

    /// `sweeps`: every job of the minute's sweep (price alerts' own, limits, escalation, ...).
    public init(evaluator: PriceAlertEvaluator, sweeps: [any AlertSweep]) {
        self.evaluator = evaluator
        self.sweeps = sweeps
    }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        let entered = StageTrace.stamp()
        var failures: [InvocationResult.Failure] = []
        var results: [String: String] = [:]
        var ticks: [PriceTick] = []
        var tickRecords: [String] = []
        var sweepRecords: [InvocationRecord] = []
        for record in request.records {
            let bytes = Array(record.body.utf8)
            if Self.isSweep(record, bytes) {
                sweepRecords.append(record)
                continue
            }
            do {
                ticks.append(try PriceTick.decode(bytes))
                tickRecords.append(record.messageID)
            } catch {
                context.logger.warning("malformed tick", metadata: ["message_id": "\(record.messageID)", "error": "\(error)"])
                failures.append(.init(messageID: record.messageID, error: "malformed tick: \(error)", retryable: false))
            }
        }
        if !ticks.isEmpty {
            do {
                let report = try await evaluator.evaluate(ticks)
                if StageTrace.isOn { Self.trace(request, entered: entered, report) }
            } catch {
                context.logger.error("tick batch failed; retried", metadata: ["ticks": "\(ticks.count)", "error": "\(error)"])
                failures += tickRecords.map { InvocationResult.Failure(messageID: $0, error: "\(error)", retryable: true) }
            }
        }
        for record in sweepRecords {
            var summary: [String] = []
            var failed: [String] = []
            let now = evaluator.now
            for sweep in sweeps {
                do { summary.append("\(sweep.name): \(try await sweep.sweep(now: now))") } catch {
                    context.logger.error("sweep failed", metadata: ["sweep": "\(sweep.name)", "error": "\(error)"])
                    failed.append("\(sweep.name): \(error)")
                }
            }
            if failed.isEmpty {
                results[record.messageID] = summary.joined(separator: ", ")
            } else {
                failures.append(.init(messageID: record.messageID, error: "sweeps failed: " + failed.joined(separator: "; "), retryable: true))
            }
        }
        return .from(failures: failures, results: results)
    }

    /// A tick batch's stages for `StageTrace` (joined with the dispatcher's by invocation id).
    static func trace(_ request: InvocationRequest, entered: Double, _ report: PriceAlertEvaluator.Report) {
        let s = report.stages
        StageTrace.write("alert-evaluator", "{\"invocation\":\"\(request.invocationID)\",\"entered\":\(StageTrace.text(entered)),"
                         + "\"refreshed\":\(StageTrace.text(s.refreshed)),\"indexed\":\(StageTrace.text(s.indexed)),"
                         + "\"transaction\":\(StageTrace.text(s.transactionStarted)),\"committed\":\(StageTrace.text(s.committed)),"
                         + "\"answered\":\(StageTrace.text(StageTrace.now())),\"fired\":\(report.fired)}")
    }

    /// A schedule's record comes on the function's own queue and names its schedule; everything
    /// else is a tick (also a tick sent with `tm invoke`).
    static func isSweep(_ record: InvocationRecord, _ bytes: [UInt8]) -> Bool {
        guard record.queue.hasPrefix("fn:") else { return false }
        return (try? JSONValue.parse(bytes))?["schedule"] != nil
    }
}
