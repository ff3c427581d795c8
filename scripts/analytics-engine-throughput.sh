#!/usr/bin/env bash
# Measures the analytics engine alone (no I/O): synthetic users' fills → AnalyticsEngine.reports →
# AnalyticsEngine.json, single-threaded, optimised build. Compiles the engine's sources and the few
# TMCore/TMRisk files it needs into one standalone binary (no package build), so it runs in seconds.
#   scripts/analytics-engine-throughput.sh [users] [fills-per-user]     (default 1000 × 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000}
per=${2:-1000}
out=${TMPDIR:-/tmp}/analytics-engine-throughput
rm -rf "$out" && mkdir -p "$out/src"
for f in Sources/TMCore/FixedDecimal.swift Sources/TMCore/DecimalText.swift Sources/TMCore/JSONValue.swift Sources/TMCore/Environment.swift \
         Sources/TMAnalytics/Model/*.swift Sources/TMAnalytics/Engine/*.swift; do
    sed -e '/^import TM/d' -e '/^@testable import/d' "$f" > "$out/src/$(basename "$f")"
done
cat > "$out/src/InstrumentKey.swift" <<'EOF'
public struct InstrumentKey: Sendable, Hashable {
    public var symbol: String
    public var exchange: String
    public init(symbol: String, exchange: String) { self.symbol = symbol; self.exchange = exchange }
}
EOF
cat > "$out/src/main.swift" <<'EOF'
import Foundation

/// Deterministic synthetic history: 20 NSE symbols a user, fills on weekdays 09:15–15:30 IST over
/// about a year, buys and sells of 1–50 shares so lots open, close partly and flip.
func syntheticUser(_ index: Int, fills count: Int) -> UserFills {
    var state = UInt64(truncatingIfNeeded: index) &* 6364136223846793005 &+ 1442695040888963407
    func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
    var fills: [AnalyticsFill] = []
    fills.reserveCapacity(count)
    var t: Int64 = 1_704_080_700_000_000  // 2024-01-01 09:15 IST
    let symbols = (0..<20).map { "SYM\($0)" }
    for i in 0..<count {
        t += Int64(next() % 50_000) * 1_000_000  // up to 14 h apart: a few fills a day
        let symbol = symbols[Int(next() % 20)]
        let price = FixedDecimal(units: Int128(100_000_000_000 + Int64(next() % 50_000_000_000)))
        let quantity = FixedDecimal(units: Int128(1 + next() % 50) * 1_000_000_000)
        let fee = FixedDecimal(units: Int128(next() % 20_000_000_000))
        fills.append(AnalyticsFill(symbol: symbol, exchange: "NSE", side: next() % 2 == 0 ? .buy : .sell, quantity: quantity,
                                   price: price, fee: fee, timeMicros: t, brokerTradeID: "T\(index)-\(i)"))
    }
    return UserFills(userID: UUID(), currency: "INR", capital: FixedDecimal(units: 1_000_000 * 1_000_000_000), fills: fills)
}

let args = CommandLine.arguments
let userCount = args.count > 1 ? Int(args[1])! : 1000
let perUser = args.count > 2 ? Int(args[2])! : 1000
let users = (0..<userCount).map { syntheticUser($0, fills: perUser) }
let context = AnalyticsContext(asOfMicros: 1_767_225_600_000_000)  // 2026-01-01
let engine = AnalyticsEngine()
var reports = 0, jsonBytes = 0
// CPU time of this thread, not wall time: the machine is shared, and the figure is per core.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
var engineOnly = 0.0, jsonTime = 0.0
let skipJSON = ProcessInfo.processInfo.environment["ENGINE_ONLY"] != nil
for user in users {
    let start = cpuSeconds()
    let rows = engine.reports(for: user, context: context)
    let middle = cpuSeconds()
    reports += rows.count
    if !skipJSON { for row in rows { jsonBytes += AnalyticsEngine.jsonText(row).utf8.count } }
    let end = cpuSeconds()
    engineOnly += middle - start
    jsonTime += end - middle
}
let fills = Double(userCount * perUser)
print("users \(userCount) × fills \(perUser) = \(Int(fills)) fills → \(reports) reports (\(reports / max(userCount, 1)) a user), \(jsonBytes / max(reports, 1)) JSON bytes a report")
print(String(format: "engine (match + aggregate + reports): %.3f s = %.0f fills/s on one core", engineOnly, fills / engineOnly))
print(String(format: "jsonText(report) for every report: %.3f s; together %.0f fills/s (CPU time, one core)", jsonTime, fills / (engineOnly + jsonTime)))
EOF
export PATH=/opt/swift/usr/bin:$PATH
(cd "$out" && swiftc -O -wmo -g -module-name AnalyticsEngineThroughput src/*.swift -o throughput)
[ -n "${NO_RUN:-}" ] || "$out/throughput" "$users" "$per"
