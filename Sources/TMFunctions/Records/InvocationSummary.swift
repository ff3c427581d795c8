import Foundation
import TMPostgres

/// One function's recent invocations, for `tm functions`.
public struct InvocationSummary: Sendable, Equatable {
    public var function: String
    public var total: Int
    public var byOutcome: [String: Int]
    public var p50Millis: Decimal?
    public var p99Millis: Decimal?
    public var coldStarts: Int
    public var lastAt: Date?
    public var lastOutcome: String?
    public var lastReason: String?

    /// Summaries of invocations started after `since`, keyed by function.
    public static func load(_ db: PostgresConnection, since: Date) throws -> [String: InvocationSummary] {
        let rows = try db.query("""
            SELECT function, sum(n)::int AS total,
                   jsonb_object_agg(outcome, n)::text AS outcomes,
                   sum(cold_n)::int AS cold,
                   (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::numeric(12,3)
                      FROM function_invocations i WHERE i.function = g.function AND i.started_at > \(since)) AS p50,
                   (SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)::numeric(12,3)
                      FROM function_invocations i WHERE i.function = g.function AND i.started_at > \(since)) AS p99,
                   max(last_at) AS last_at
            FROM (SELECT function, outcome, count(*) AS n, count(*) FILTER (WHERE cold) AS cold_n, max(started_at) AS last_at
                    FROM function_invocations WHERE started_at > \(since) GROUP BY function, outcome) g
            GROUP BY function
            """)
        var out: [String: InvocationSummary] = [:]
        for row in rows {
            let function: String = try row.decode("function")
            let outcomes = (try? JSONSerialization.jsonObject(with: Data((try row.decode("outcomes", as: String.self)).utf8))) as? [String: Int] ?? [:]
            out[function] = InvocationSummary(
                function: function, total: try row.decode("total"), byOutcome: outcomes,
                p50Millis: try row.decode("p50"), p99Millis: try row.decode("p99"), coldStarts: try row.decode("cold"),
                lastAt: try row.decode("last_at"), lastOutcome: nil, lastReason: nil)
        }
        for row in try db.query("""
            SELECT DISTINCT ON (function) function, outcome, reason FROM function_invocations
            WHERE started_at > \(since) ORDER BY function, started_at DESC
            """) {
            let function: String = try row.decode("function")
            out[function]?.lastOutcome = try row.decode("outcome")
            out[function]?.lastReason = try row.decode("reason")
        }
        return out
    }

    /// Prometheus exposition text: invocation counters by outcome (all time), duration quantiles
    /// and cold starts over the summaries' window, and running invocations — for a textfile
    /// collector or a scrape through `tm functions --prometheus`.
    public static func prometheus(totals: [String: [String: Int]], summaries: [String: InvocationSummary], running: [String: Int]) -> String {
        func label(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }
        var lines = [
            "# HELP tm_function_invocations_total Function invocations by outcome.",
            "# TYPE tm_function_invocations_total counter",
        ]
        for function in totals.keys.sorted() {
            for (outcome, count) in totals[function]!.sorted(by: { $0.key < $1.key }) {
                lines.append("tm_function_invocations_total{function=\"\(label(function))\",outcome=\"\(label(outcome))\"} \(count)")
            }
        }
        lines += ["# HELP tm_function_duration_milliseconds Invocation duration over the window.", "# TYPE tm_function_duration_milliseconds summary"]
        for function in summaries.keys.sorted() {
            let s = summaries[function]!
            if let p50 = s.p50Millis { lines.append("tm_function_duration_milliseconds{function=\"\(label(function))\",quantile=\"0.5\"} \(p50)") }
            if let p99 = s.p99Millis { lines.append("tm_function_duration_milliseconds{function=\"\(label(function))\",quantile=\"0.99\"} \(p99)") }
            lines.append("tm_function_duration_milliseconds_count{function=\"\(label(function))\"} \(s.total)")
        }
        lines += ["# HELP tm_function_running Invocations holding a reserved-concurrency slot now.", "# TYPE tm_function_running gauge"]
        for function in running.keys.sorted() {
            lines.append("tm_function_running{function=\"\(label(function))\"} \(running[function]!)")
        }
        return lines.joined(separator: "\n")
    }

    /// Invocations per function and outcome since the records began.
    public static func totals(_ db: PostgresConnection) throws -> [String: [String: Int]] {
        var out: [String: [String: Int]] = [:]
        for row in try db.query("SELECT function, outcome, count(*)::int AS n FROM function_invocations GROUP BY function, outcome") {
            out[try row.decode("function", as: String.self), default: [:]][try row.decode("outcome", as: String.self)] = try row.decode("n")
        }
        return out
    }
}
