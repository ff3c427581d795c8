// risk-bench: the pre-trade risk engine and the router, in process — one order checked against an
// account with every limit set, 50 positions and 20 working orders, then routed among three
// brokers (client order id derived) — timed one order at a time in nanoseconds (HdrHistogram).
// Prints p50/p99/p99.9 in microseconds and writes --json (default bench-results/risk.json).
// Target (issue 11): risk + route p99 ≤ 10 µs.
import Foundation
import Histogram
import TMBrokers
import TMCore
import TMRisk
import TMRouting

var count = 200_000
var jsonPath = "bench-results/risk.json"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--n": count = Int(arguments.next() ?? "") ?? count
    case "--json": jsonPath = arguments.next() ?? jsonPath
    default: FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8)); exit(2)
    }
}

let now = Date()
var account = AccountRisk()
for index in 0..<50 { account.positions[InstrumentKey(symbol: "SYM\(index)", exchange: "NSE")] = FixedDecimal(index * 10) }
account.positionsAsOf = now
account.buyingPower = 10_000_000
account.fundsAsOf = now.addingTimeInterval(-60)
account.equity = 50_000_000
account.dailyPnl = -1234
account.turnoverFilled = 250_000
let rules = InstrumentRules(lotSize: 1, tickSize: FixedDecimal("0.05")!, priceScale: 2)
for index in 0..<20 {
    let key = InstrumentKey(symbol: "SYM\(index)", exchange: "NSE")
    account.replaceWorkingOrders(account.workingOrders.values + [WorkingOrder(
        id: "w\(index)", instrument: key, side: .buy, remainingQuantity: 5, limitPrice: 990, reservePrice: 990,
        reducesExposure: false, submittedAt: now.addingTimeInterval(-30))])
}
var limits = RiskLimits()
limits.maxOrderQuantity = 10_000
limits.maxOrderNotional = 5_000_000
limits.priceBandPercent = 10
limits.maxPositionQuantity = 100_000
limits.maxPositionNotional = 50_000_000
limits.maxConcentration = FixedDecimal("0.5")!
limits.dailyLossLimit = 100_000
limits.dailyTurnoverLimit = 100_000_000
limits.maxOpenOrders = 500
limits.maxOrdersPerSecond = 1_000_000
limits.restrictedSymbols = ["BLOCKED1", "BLOCKED2"]

let engine = RiskEngine()
let router = OrderRouter()
// The router's live inputs as the order-worker has them (LiveRouteSource without its database):
// the holder's accounts, call health recorded per broker, the published fees, the default listings
// (Alpaca does not list NSE: filtered out per order).
let inputs = RouteInputs()
for (broker, ms, failed) in [(BrokerKind.kite, 22, false), (.kite, 24, true), (.upstox, 35, false), (.alpaca, 60, false)] {
    inputs.health.record(broker: broker, latency: .milliseconds(ms), failed: failed)
}
let accounts = [RouteInputs.Account(id: "a-kite", broker: .kite), RouteInputs.Account(id: "a-upstox", broker: .upstox),
                RouteInputs.Account(id: "a-alpaca", broker: .alpaca)]
var riskOnly = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
var histogram = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
var passed = 0
let clock = ContinuousClock()
func nanos(_ elapsed: Duration) -> UInt64 {
    UInt64(max(0, elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000))
}
let started = clock.now
for index in 0..<count {
    // Distinct orders (no duplicate hits), spread over the account's symbols.
    let order = OrderIntent(symbol: "SYM\(index % 50)", exchange: "NSE", side: index % 3 == 0 ? .sell : .buy,
                            quantity: FixedDecimal(1 + index % 40), type: .limit, limitPrice: 1000 + FixedDecimal(units: Int128(index % 100) * 50_000_000))
    let start = clock.now
    let result = engine.evaluate(order, account: account, instrument: rules, lastPrice: 1000, limits: limits, now: now)
    let checked = clock.now
    if case .success(let assessment) = result {
        passed += 1
        _ = router.route(quantity: order.quantity, lotSize: rules.lotSize, value: assessment.notional, idempotencyKey: "bench-\(index)",
                         averageTradeValue: 5000,
                         candidates: inputs.candidates(accounts, exchange: order.exchange, product: .intraday, value: assessment.notional,
                                                       at: start))
    }
    let routed = clock.now
    _ = riskOnly.record(nanos(checked - start))
    _ = histogram.record(nanos(routed - start))
}
let total = clock.now - started
let (snapshot, riskSnapshot) = (histogram, riskOnly)
let micros = { (percentile: Double) -> Double in Double(snapshot.valueAtPercentile(percentile)) / 1000 }
let riskMicros = { (percentile: Double) -> Double in Double(riskSnapshot.valueAtPercentile(percentile)) / 1000 }
let seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
let figures: [String: Double] = [
    "p50Micros": micros(50), "p99Micros": micros(99), "p999Micros": micros(99.9), "maxMicros": Double(snapshot.max) / 1000,
    "checksPerSecond": Double(count) / seconds,
    "riskOnlyP50Micros": riskMicros(50), "riskOnlyP99Micros": riskMicros(99), "riskOnlyP999Micros": riskMicros(99.9),
]
print("risk check (every limit set, 50 positions, 20 working orders) + route (live inputs: 3 accounts, 2 listing NSE), \(count) orders, \(passed) passed")
func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
print("operation".padding(toLength: 28, withPad: " ", startingAt: 0) + ["p50 µs", "p99 µs", "p99.9 µs", "max µs", "checks/s"].map { column($0, 11) }.joined())
print("risk.evaluate".padding(toLength: 28, withPad: " ", startingAt: 0)
      + [riskMicros(50), riskMicros(99), riskMicros(99.9)].map { column(String(format: "%.2f", $0), 11) }.joined())
print("risk.evaluate + route".padding(toLength: 28, withPad: " ", startingAt: 0)
      + [figures["p50Micros"]!, figures["p99Micros"]!, figures["p999Micros"]!, figures["maxMicros"]!].map { column(String(format: "%.2f", $0), 11) }.joined()
      + column(String(format: "%.0f", figures["checksPerSecond"]!), 11))
let report: [String: Any] = ["benchmark": "risk", "orders": count, "passed": passed, "figures": figures]
try FileManager.default.createDirectory(at: URL(fileURLWithPath: jsonPath).deletingLastPathComponent(), withIntermediateDirectories: true)
try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: jsonPath))
print("figures written to \(jsonPath)")
