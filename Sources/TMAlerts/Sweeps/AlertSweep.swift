import Foundation

/// One job of the minute's `alerts-sweep` (expired price alerts, limit alerts, escalation steps).
/// The alert-evaluator runs every registered sweep on each firing; each must be safe to run twice
/// at once or again after a crash (its effects are conditional updates and dedup-keyed rows).
public protocol AlertSweep: Sendable {
    /// For logs and the function's result, e.g. `limits`.
    var name: String { get }
    /// Does one pass as of `now`; returns how many alerts or steps it fired or changed.
    func sweep(now: Date) async throws -> Int
}
