import Foundation
import TMBrokers
import TMCore
import TMManifest
@testable import TMRouting
import Testing

/// The router's live inputs that need no server: call health per broker, the fee schedules, and
/// `Config/routing.yaml`.
@Suite struct BrokerHealthTests {
    @Test func statsComeFromTheLastCallsOnly() {
        let health = BrokerHealth(window: 4)
        #expect(health.stats(.kite) == BrokerHealth.Stats(calls: 0, failures: 0, latency: nil))
        #expect(health.stats(.kite).errorRate == 0, "no calls: innocent until measured")
        health.record(broker: .kite, latency: .milliseconds(10), failed: false)
        health.record(broker: .kite, latency: .milliseconds(30), failed: false)
        health.record(broker: .kite, latency: .seconds(5), failed: true)
        #expect(health.stats(.kite) == BrokerHealth.Stats(calls: 3, failures: 1, latency: .milliseconds(20)),
                "latency is the successes' mean; a failure counts in the error rate only")
        #expect(health.stats(.upstox).calls == 0, "brokers are apart")
        // Four more successes push every earlier call, the failure included, out of the window.
        for ms in [40, 40, 60, 60] { health.record(broker: .kite, latency: .milliseconds(Int64(ms)), failed: false) }
        #expect(health.stats(.kite) == BrokerHealth.Stats(calls: 4, failures: 0, latency: .milliseconds(50)))
        for _ in 0..<3 { health.record(broker: .kite, latency: .milliseconds(1), failed: true) }
        #expect(health.stats(.kite).errorRate == 0.75)
        #expect(health.stats(.kite).latency == .milliseconds(60), "the one success left in the window")
        health.record(broker: .kite, latency: .milliseconds(1), failed: true)
        #expect(health.stats(.kite).latency == nil)
    }

    @Test func concurrentRecordsAreAllCounted() async {
        let health = BrokerHealth(window: 10_000)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for call in 0..<500 { health.record(broker: .binance, latency: .milliseconds(1), failed: (task + call) % 4 == 0) }
                }
            }
        }
        #expect(health.stats(.binance).calls == 4000)
        #expect(health.stats(.binance).failures == 1000)
    }

    /// What the router makes of the health: a slow broker and a failing broker lose to a healthy one.
    @Test func recordedLatencyAndErrorsChangeTheRanking() {
        let health = BrokerHealth(window: 20)
        func ranking() -> [BrokerKind] {
            OrderRouter().scores([BrokerKind.kite, .upstox].map { broker in
                let stats = health.stats(broker)
                return RouteCandidate(accountID: broker.rawValue, broker: broker, latency: stats.latency ?? .zero, errorRate: stats.errorRate,
                                      fee: 20, liquidity: 1)
            }).map(\.broker)
        }
        #expect(ranking() == [.kite, .upstox], "equal: the first listed")
        for _ in 0..<10 { health.record(broker: .kite, latency: .milliseconds(80), failed: false) }
        for _ in 0..<10 { health.record(broker: .upstox, latency: .milliseconds(20), failed: false) }
        #expect(ranking() == [.upstox, .kite], "faster wins")
        // The window forgets Kite's slow calls; Upstox, as fast, fails half its calls.
        for _ in 0..<20 { health.record(broker: .kite, latency: .milliseconds(20), failed: false) }
        for _ in 0..<10 { health.record(broker: .upstox, latency: .milliseconds(20), failed: true) }
        #expect(health.stats(.kite).latency == health.stats(.upstox).latency)
        #expect(ranking() == [.kite, .upstox], "the failing broker loses")
    }
}

@Suite struct FeeScheduleTests {
    let fees = FeeSchedule.published

    @Test func kiteIntradayIsPointZeroThreePercentOrTwentyRupeesWhicheverIsLower() {
        #expect(fees.fee(.kite, product: .intraday, value: 10_000) == 3)
        #expect(fees.fee(.kite, product: .intraday, value: 66_600) == FixedDecimal("19.98")!)
        #expect(fees.fee(.kite, product: .intraday, value: 66_700) == 20, "0.03% would be 20.01: capped")
        #expect(fees.fee(.kite, product: .intraday, value: 5_000_000) == 20)
        #expect(fees.fee(.kite, product: .intraday, value: -10_000) == 3, "a sell's value pays like a buy's")
        #expect(fees.fee(.kite, product: .carryForward, value: 1_000_000) == 20, "F&O: the same rule")
        #expect(fees.fee(.kite, product: .delivery, value: 5_000_000) == 0, "equity delivery is free")
    }

    @Test func upstoxAlpacaAndBinance() {
        #expect(fees.fee(.upstox, product: .intraday, value: 10_000) == 5)
        #expect(fees.fee(.upstox, product: .intraday, value: 100_000) == 20)
        #expect(fees.fee(.upstox, product: .delivery, value: 400) == 10, "2.5% under the cap")
        #expect(fees.fee(.upstox, product: .delivery, value: 100_000) == 20)
        #expect(fees.fee(.alpaca, product: .delivery, value: 1_000_000) == 0)
        #expect(fees.fee(.binance, product: .delivery, value: 10_000) == 10)
        #expect(fees.fee(.binance, product: .delivery, value: 50_000_000) == 50_000, "0.1%, uncapped")
        #expect(fees.fee(.binance, product: .delivery, value: FixedDecimal("0.123456789")!) == FixedDecimal("0.000123457")!,
                "rounded up at the ninth place, never understated")
    }
}

@Suite struct RoutingConfigTests {
    static let repositoryFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Config/routing.yaml")

    @Test func theRepositoryFileStatesThePublishedFees() throws {
        let config = try RoutingConfig.load(contentsOf: Self.repositoryFile)
        #expect(config.fees == .published, "Config/routing.yaml and FeeSchedule.published say the same")
        #expect(config.lists(.kite, exchange: "NSE") && config.lists(.alpaca, exchange: "NASDAQ") && config.lists(.binance, exchange: "BINANCE"))
        #expect(!config.lists(.alpaca, exchange: "NSE") && !config.lists(.kite, exchange: "BINANCE"))
        #expect(config.liquidity(.kite, exchange: "BSE") == 0.6)
    }

    @Test func theStandardFileIsFoundThroughTheEnvironmentOrDefaults() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("routing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let environment = TMEnvironment(process: ["TM_CONFIG_DIR": folder.path], envFile: nil)
        #expect(try RoutingConfig.standard(environment: environment) == .defaults, "no file: the defaults")
        try "brokers: {binance: {fees: {default: {percent: \"0.075\"}}}}".write(to: folder.appendingPathComponent("routing.yaml"), atomically: true,
                                                                                 encoding: .utf8)
        #expect(try RoutingConfig.standard(environment: environment).fees.fee(.binance, product: .delivery, value: 1000) == FixedDecimal("0.75")!)
        try "brokers: {binance: {fees: {default: {percent: lots}}}}".write(to: folder.appendingPathComponent("routing.yaml"), atomically: true,
                                                                           encoding: .utf8)
        #expect(throws: ManifestError.self, "a wrong file is refused, not skipped") { try RoutingConfig.standard(environment: environment) }
    }

    @Test func aFileOverridesFieldByField() throws {
        let config = try RoutingConfig.parse("""
            brokers:
              kite:
                exchanges: [NSE, MCX]
                fees:
                  intraday: {percent: "0.05", cap: "15"}
                liquidity: {default: 0.5, NSE: 2}
              binance:
                fees:
                  default: {percent: 0.075}
            """)
        #expect(config.fees.fee(.kite, product: .intraday, value: 10_000) == 5)
        #expect(config.fees.fee(.kite, product: .intraday, value: 100_000) == 15)
        #expect(config.fees.fee(.kite, product: .delivery, value: 100_000) == 0, "rules not named keep their default")
        #expect(config.fees.fee(.kite, product: .carryForward, value: 10_000) == 3)
        #expect(config.fees.fee(.binance, product: .delivery, value: 10_000) == FixedDecimal("7.5")!)
        #expect(config.fees.rule(.upstox, .intraday) == FeeSchedule.published.rule(.upstox, .intraday), "brokers not named keep theirs")
        #expect(config.exchanges[.kite] == ["NSE", "MCX"])
        #expect(!config.lists(.kite, exchange: "BSE"))
        #expect(config.liquidity(.kite, exchange: "NSE") == 2)
        #expect(config.liquidity(.kite, exchange: "MCX") == 0.5)
        #expect(config.liquidity(.upstox, exchange: "NSE") == 1, "unset: all equal")
        #expect(try RoutingConfig.parse("brokers: {}") == .defaults)
    }

    static let refusals: [(yaml: String, field: String, reason: String)] = [
        ("brokers: {etrade: {}}", "brokers.etrade", "unknown broker"),
        ("broker: {kite: {}}", "broker", "unknown field"),
        ("brokers: {kite: {fee: {}}}", "brokers.kite.fee", "unknown field"),
        ("brokers: {kite: {fees: {overnight: {percent: 1}}}}", "brokers.kite.fees.overnight", "unknown field"),
        ("brokers: {kite: {fees: {intraday: {cap: 20}}}}", "brokers.kite.fees.intraday.percent", "required"),
        ("brokers: {kite: {fees: {intraday: {percent: abc}}}}", "brokers.kite.fees.intraday.percent", "not a percentage"),
        ("brokers: {kite: {fees: {intraday: {percent: 101}}}}", "brokers.kite.fees.intraday.percent", "not a percentage"),
        ("brokers: {kite: {fees: {intraday: {percent: -1}}}}", "brokers.kite.fees.intraday.percent", "not a percentage"),
        ("brokers: {kite: {fees: {intraday: {percent: 0.000000001}}}}", "brokers.kite.fees.intraday.percent", "seven decimal places"),
        ("brokers: {kite: {fees: {intraday: {percent: 1, cap: -20}}}}", "brokers.kite.fees.intraday.cap", "0 or more"),
        ("brokers: {kite: {liquidity: {NSE: -1}}}", "brokers.kite.liquidity.NSE", "0 or more"),
        ("brokers: {kite: {liquidity: {NSE: lots}}}", "brokers.kite.liquidity.NSE", "0 or more"),
        ("brokers: {kite: {exchanges: NSE}}", "brokers.kite.exchanges", "list"),
        ("brokers: {kite: {exchanges: [nse]}}", "brokers.kite.exchanges[0]", "upper case"),
        ("brokers: [kite]", "brokers", "mapping"),
        ("- kite", "(document)", "mapping"),
        ("brokers: {kite: [", "(document)", "not valid YAML"),
    ]

    @Test(arguments: refusals.indices) func badYAMLIsRefusedNamingTheFieldAndReason(_ index: Int) {
        let refusal = Self.refusals[index]
        do {
            _ = try RoutingConfig.parse(refusal.yaml, file: "routing.yaml")
            Issue.record("accepted: \(refusal.yaml)")
        } catch let error as ManifestError {
            #expect(error.file == "routing.yaml")
            #expect(error.field == refusal.field, "\(refusal.yaml)")
            #expect(error.reason.contains(refusal.reason), "\(error)")
        } catch {
            Issue.record("not a ManifestError: \(error)")
        }
    }
}
