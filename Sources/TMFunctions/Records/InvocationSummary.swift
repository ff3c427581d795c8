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
            SELECT function, count(*)::int AS total,
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
}
