// risk-bench: the order worker's pre-trade risk check and route, in process, through the very
// objects the worker's placer calls (`OrderPlacer.place`): `RiskBook.check` (the resident book: the
// account's lock, its funds and P&L, the engine, the reservation), `LiveRouteSource.candidates`
// (the holder's accounts joined with live health, circuits, fees and liquidity), `OrderRouter.route`
// (scores, client order id) and `RouteRecord.json` (the decision as stored with the order). 200
// accounts, each with every limit set, 50 positions and 20 working orders, three connected brokers
// (two list NSE); orders round-robin over the accounts with the clock moving 100 µs per order
// (10,000 orders/s, 50 per account per second). Each order is timed alone in nanoseconds
// (HdrHistogram); its reservation is released after the timing, so the book stays as it was.
// Prints p50/p99/p99.9 in microseconds and writes --json (default bench-results/risk.json).
// Target (issue 11): risk + route p99 ≤ 10 µs. See PROFILE.md.
import Foundation
import Histogram
import TMBrokers
import TMCore
import TMOrders
import TMRisk
import TMRouting

var count = 200_000
var accountCount = 200
var jsonPath = "bench-results/risk.json"
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--n": count = Int(arguments.next() ?? "") ?? count
    case "--accounts": accountCount = max(1, Int(arguments.next() ?? "") ?? accountCount)
    case "--json": jsonPath = arguments.next() ?? jsonPath
    default: FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8)); exit(2)
    }
}

let start = Date()
let rules = InstrumentRules(lotSize: 1, tickSize: FixedDecimal("0.05")!, priceScale: 2)
var instruments: [InstrumentKey: (rules: InstrumentRules, currency: String, lastPrice: FixedDecimal?)] = [:]
for index in 0..<50 { instruments[InstrumentKey(symbol: "SYM\(index)", exchange: "NSE")] = (rules, "INR", 1000) }
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

// Each account's holder has it (Kite), an Upstox and an Alpaca account (Alpaca does not list NSE:
// filtered out per order).
var accounts: [RiskBook.BenchAccount] = []
var reachable: [UUID: [RouteInputs.Account]] = [:]
for _ in 0..<accountCount {
    let id = UUID(), user = UUID()
    var positions: [InstrumentKey: FixedDecimal] = [:]
    for index in 0..<50 { positions[InstrumentKey(symbol: "SYM\(index)", exchange: "NSE")] = FixedDecimal(index * 10) }
    let working = (0..<20).map { index in
        (id: UUID(), instrument: InstrumentKey(symbol: "SYM\(index)", exchange: "NSE"), side: OrderSide.buy, remaining: FixedDecimal(5),
         limitPrice: FixedDecimal(990), submittedAt: start.addingTimeInterval(-30))
    }
    accounts.append(RiskBook.BenchAccount(id: id, user: user, positions: positions, positionsAsOf: start, currency: "INR", available: 10_000_000,
                                          total: 50_000_000, fundsAsOf: start.addingTimeInterval(-60), working: working,
                                          tradeCount: 100, tradeValue: 500_000))
    reachable[id] = [RouteInputs.Account(id: id.uuidString.lowercased(), broker: .kite),
                     RouteInputs.Account(id: UUID().uuidString.lowercased(), broker: .upstox),
                     RouteInputs.Account(id: UUID().uuidString.lowercased(), broker: .alpaca)]
}
let book = RiskBook()
book.install(accounts: accounts, instruments: instruments, limits: limits, now: start)
let routes = LiveRouteSource()
routes.install(reachable)
for (broker, ms, failed) in [(BrokerKind.kite, 22, false), (.kite, 24, true), (.upstox, 35, false), (.alpaca, 60, false)] {
    routes.record(broker: broker, latency: .milliseconds(ms), failed: failed)
}
let risk: any RiskGate = book
let source: any RouteSource = routes
let router = OrderRouter()

var riskOnly = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
var histogram = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
var passed = 0, routed = 0
var denials: [String: Int] = [:]
let clock = ContinuousClock()
func nanos(_ elapsed: Duration) -> UInt64 {
    UInt64(max(0, elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000))
}
let started = clock.now
for index in 0..<count {
    // Distinct orders (no duplicate within the window), spread over the accounts and their symbols.
    let account = accounts[index % accountCount].id, nth = index / accountCount
    let order = PlaceOrder(idempotencyKey: "bench-\(index)", accountID: account, symbol: "SYM\(nth % 50)", exchange: "NSE",
                           side: nth % 3 == 0 ? .sell : .buy, quantity: Decimal(1 + nth % 40), type: .limit,
                           limitPrice: Decimal(1000) + Decimal(nth % 100) * Decimal(string: "0.05")!, product: .intraday)
    // The order id as the placer should draw it (`RandomUUID`: no /dev/urandom read per id).
    let orderID = RandomUUID.make(), now = start.addingTimeInterval(Double(index) / 10_000)
    // What `OrderPlacer.place` runs between reading the account and writing the rows.
    let begin = clock.now
    let check = risk.check(order, orderID: orderID, now: now)
    let checked = clock.now
    if case .passed(let assessment) = check.outcome {
        passed += 1
        let route = router.route(quantity: order.exact?.quantity ?? 0, lotSize: check.lotSize, value: assessment.notional,
                                 idempotencyKey: order.idempotencyKey, averageTradeValue: check.averageTradeValue,
                                 candidates: source.candidates(for: order, value: assessment.notional))
        if case .success(let decision) = route {
            routed += 1
            _ = RouteRecord.json(decision, requested: order.accountID)
        }
    } else if case .denied(let denial) = check.outcome {
        denials[denial.reason.rawValue, default: 0] += 1
    }
    let done = clock.now
    _ = riskOnly.record(nanos(checked - begin))
    _ = histogram.record(nanos(done - begin))
    risk.release(orderID: orderID, account: account)
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
print("risk check (RiskBook: \(accountCount) accounts, every limit set, 50 positions, 20 working orders) + route (LiveRouteSource: 3 accounts, "
      + "2 listing NSE) + stored decision, \(count) orders, \(passed) passed, \(routed) routed"
      + (denials.isEmpty ? "" : ", denied: \(denials.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))"))
func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
print("operation".padding(toLength: 28, withPad: " ", startingAt: 0) + ["p50 µs", "p99 µs", "p99.9 µs", "max µs", "checks/s"].map { column($0, 11) }.joined())
print("risk check".padding(toLength: 28, withPad: " ", startingAt: 0)
      + [riskMicros(50), riskMicros(99), riskMicros(99.9)].map { column(String(format: "%.2f", $0), 11) }.joined())
print("risk check + route".padding(toLength: 28, withPad: " ", startingAt: 0)
      + [figures["p50Micros"]!, figures["p99Micros"]!, figures["p999Micros"]!, figures["maxMicros"]!].map { column(String(format: "%.2f", $0), 11) }.joined()
      + column(String(format: "%.0f", figures["checksPerSecond"]!), 11))
let report: [String: Any] = ["benchmark": "risk", "orders": count, "accounts": accountCount, "passed": passed, "routed": routed, "figures": figures]
try FileManager.default.createDirectory(at: URL(fileURLWithPath: jsonPath).deletingLastPathComponent(), withIntermediateDirectories: true)
try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: jsonPath))
print("figures written to \(jsonPath)")
