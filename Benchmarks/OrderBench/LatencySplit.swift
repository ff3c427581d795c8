import BenchSupport

/// An open-loop run's latencies cut at each order's `submitted_at` (the placer's clock when it begins the
/// broker call, before the SUBMITTING write): "before" is the queue, the fetch, risk and routing; "after"
/// is the SUBMITTING commit, the admission, the HTTP call and the ACCEPTED commit. Read for the tail:
/// which side the slowest orders lost their time on.
struct LatencySplit {
    /// (due → ACCEPTED, due → submitted_at), both in ms, one per order that has both.
    private(set) var orders: [(total: Double, before: Double)] = []

    mutating func add(total: Double, before: Double) { orders.append((total, before)) }

    /// p50/p99 of each side, and the slowest 1%'s mean of each.
    var line: String {
        guard !orders.isEmpty else { return "no order carried submitted_at" }
        let before = LatencyHistogram(millis: orders.map(\.before))
        let after = LatencyHistogram(millis: orders.map { $0.total - $0.before })
        let slowest = orders.sorted { $0.total > $1.total }.prefix(max(1, orders.count / 100))
        let slowBefore = slowest.reduce(0) { $0 + $1.before } / Double(slowest.count)
        let slowTotal = slowest.reduce(0) { $0 + $1.total } / Double(slowest.count)
        return String(format: "split at submitted_at: before (queue, fetch, risk, route) p50 %.2f / p99 %.2f ms, after (SUBMITTING commit, admission, HTTP, ACCEPTED commit) p50 %.2f / p99 %.2f ms; the slowest 1%% (%d): %.2f ms before, %.2f ms after",
                      before.millis(atPercentile: 50), before.millis(atPercentile: 99), after.millis(atPercentile: 50), after.millis(atPercentile: 99),
                      slowest.count, slowBefore, slowTotal - slowBefore)
    }
}
