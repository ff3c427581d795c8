import Foundation
import TMCore

/// A run's progress as `tm analytics status` shows it: users done / total, the rate so far and
/// the time left at that rate.
///
/// Guarantees: the rate is users done per second of the run's life (to its finish, or to `now`
/// while it runs); no rate and no ETA before a user is done (never a made-up number); the bar and
/// the percentage never pass 100 %.
public struct AnalyticsRunProgress: Sendable, Equatable {
    public let run: AnalyticsRun
    public let now: Date

    public init(run: AnalyticsRun, now: Date) {
        self.run = run
        self.now = now
    }

    public var fraction: Double {
        run.usersTotal == 0 ? (run.state == .done ? 1 : 0) : min(1, Double(run.usersDone) / Double(run.usersTotal))
    }

    /// Seconds from start to finish (or to now while running).
    public var elapsed: Double { max(0, (run.finishedAt ?? now).timeIntervalSince(run.startedAt)) }

    /// Users per second so far; nil before any is done.
    public var usersPerSecond: Double? {
        guard run.usersDone > 0, elapsed > 0 else { return nil }
        return Double(run.usersDone) / elapsed
    }

    public var fillsPerSecond: Double? {
        guard run.fills > 0, elapsed > 0 else { return nil }
        return Double(run.fills) / elapsed
    }

    /// Seconds left at the rate so far, while running; nil when unknown or finished.
    public var etaSeconds: Double? {
        guard run.state == .running, let rate = usersPerSecond else { return nil }
        return Double(run.usersTotal - run.usersDone) / rate
    }

    /// `[##########..........]  50.0%`, `width` characters between the brackets.
    public func bar(width: Int = 30) -> String {
        let filled = Int((fraction * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
            + String(format: " %5.1f%%", fraction * 100)
    }

    /// The plain lines (no control characters): what status prints when stdout is not a terminal.
    public var lines: [String] {
        let id = run.id.uuidString.lowercased()
        var lines = ["run \(id) (\(run.kind.rawValue)\(run.slot.map { ", slot \($0)" } ?? "")): \(run.state.rawValue)"]
        lines.append("users: \(run.usersDone) / \(run.usersTotal) done" + String(format: " (%.1f%%)", fraction * 100)
                     + "; chunks: \(run.chunksDone) / \(run.chunksTotal); fills: \(run.fills)")
        var timing = "started \(Self.iso(run.startedAt))"
        if let finished = run.finishedAt { timing += ", finished \(Self.iso(finished))" }
        timing += ", took \(Self.seconds(elapsed))"
        lines.append(timing)
        var rate = "rate: " + (usersPerSecond.map { String(format: "%.1f users/s", $0) } ?? "- (no user done yet)")
        if let fills = fillsPerSecond { rate += String(format: ", %.0f fills/s", fills) }
        if run.state == .running { rate += "; ETA " + (etaSeconds.map(Self.seconds) ?? "unknown") }
        lines.append(rate)
        if let error = run.error { lines.append((run.state == .running ? "last chunk failure: " : "error: ") + error) }
        return lines
    }

    /// The `--json` form: counts as numbers, times ISO 8601, unknowns null.
    public var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { .number(String(format: "%.3f", $0)) } ?? .null }
        return .object([
            ("run_id", .string(run.id.uuidString.lowercased())), ("kind", .string(run.kind.rawValue)),
            ("slot", run.slot.map(JSONValue.string) ?? .null), ("state", .string(run.state.rawValue)),
            ("users_total", .int(run.usersTotal)), ("users_done", .int(run.usersDone)),
            ("chunks_total", .int(run.chunksTotal)), ("chunks_done", .int(run.chunksDone)),
            ("fills", .number(String(run.fills))), ("started_at", .string(Self.iso(run.startedAt))),
            ("finished_at", run.finishedAt.map { .string(Self.iso($0)) } ?? .null),
            ("elapsed_seconds", number(elapsed)), ("users_per_second", number(usersPerSecond)),
            ("fills_per_second", number(fillsPerSecond)), ("eta_seconds", number(etaSeconds)),
            ("error", run.error.map(JSONValue.string) ?? .null),
        ])
    }

    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    static func seconds(_ value: Double) -> String { DurationText.format(.milliseconds(Int64(value * 1000))) }
}
