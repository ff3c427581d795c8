import ArgumentParser
import Foundation
import TMAnalytics
import TMCore
import TMPortfolio
import TMPostgres
import TMRedis

extension AnalyticsPeriod: ExpressibleByArgument {}

/// `tm analytics show --user U [--period P] [--at DATE] [--json]`: a user's analytics for one period,
/// per currency — through the read-through cache (`analytics:<user>:<period>`) for the current
/// period, from `analytics` for another; a period with no row yet shows the empty report.
struct AnalyticsShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "A user's analytics for a period, per currency.",
        discussion: """
            The period holding --at (default today, in the zone of the user's main exchange: IST for NSE/BSE, New York for US venues, else UTC): day, ISO week, month, year, or all (the default).
            Amounts are exact and per currency (never added across currencies); win rate is shown as a percent;
            an undefined figure (no losses for the profit factor, fewer than two returns for the Sharpe, no capital
            in the currency) is shown as "—" (null in --json). A period without a row yet shows zeros.
            """)
    @Option(help: "The user's email or id.") var user: String
    @Option(help: "day, week, month, year or all.") var period: AnalyticsPeriod = .all
    @Option(help: "A date in the period, YYYY-MM-DD (default today, in the zone of the user's main exchange).") var at: String?
    @Flag(help: "Print the reports as JSON (an array, one report per currency).") var json = false

    func validate() throws {
        if let at, AnalyticsDay(at) == nil { throw ValidationError("--at: '\(at)' is not a date (YYYY-MM-DD)") }
    }

    func run() async throws {
        let environment = TMEnvironment.current()
        let pool = PostgresPool(configuration: try PostgresConfiguration.fromEnvironment(environment), size: 1)
        let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "analytics-show")
        defer { redis.close() }
        let id: UUID
        do { id = try await pool.withConnection { [user] in try PortfolioRows.user($0, named: user) } } catch let error as PortfolioError {
            throw ValidationError("--user: \(error)")
        }
        let cache = AnalyticsCache(pool: pool, redis: redis, riskFreeAnnual: try AnalyticsContext.riskFreeRate(environment: environment))
        let shown = try await cache.show(user: id, period: period, day: at.flatMap { AnalyticsDay($0) })
        await pool.shutdown()
        // Stored as json in the report's own order since migration 0022; rows written as jsonb before
        // it have their keys by length: every report is shown in its own order.
        let template = AnalyticsEngine.json(AnalyticsReport(userID: id, currency: "", period: period, periodStart: ""))
        let reports = shown.reports.map { Self.ordered($0, like: template) }
        if json {
            print(JSONValue.array(reports).prettyText)
            return
        }
        print("analytics of \(user) (\(id.uuidString.lowercased())): \(period.rawValue)"
              + (period == .all ? "" : " from \(shown.periodStart)") + (shown.cached ? " (from the cache)" : ""))
        if shown.reports.isEmpty { print("no analytics yet: no fills synced or imported, and no capital set") }
        for report in reports { Self.render(report) }
    }

    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// `value` with every object's members in the template's order (members the template lacks
    /// after them: weekdays Monday first, others as they were).
    static func ordered(_ value: JSONValue, like template: JSONValue?) -> JSONValue {
        switch value {
        case .object(let members):
            let order = template?.objectFields?.map(\.key) ?? []
            func rank(_ key: String) -> Int { order.firstIndex(of: key) ?? weekdays.firstIndex(of: key).map { order.count + $0 } ?? Int.max }
            let sorted = members.enumerated().sorted { (rank($0.element.key), $0.offset) < (rank($1.element.key), $1.offset) }.map(\.element)
            return .object(sorted.map { ($0.key, ordered($0.value, like: template?[$0.key])) })
        case .array(let items):
            return .array(items.map { ordered($0, like: template?.arrayValue?.first) })
        default:
            return value
        }
    }

    /// One report as `label  value` lines: decimals exactly as stored, fractions named `*rate` or
    /// `max_drawdown` as percents, undefined as "—"; nested breakdowns indented.
    static func render(_ report: JSONValue) {
        print("")
        print("== \(report["currency"]?.stringValue ?? "?")")
        for (key, value) in report.objectFields ?? [] where !["user_id", "currency", "period", "period_start"].contains(key) {
            renderMember(key, value, indent: "  ")
        }
    }

    static func renderMember(_ key: String, _ value: JSONValue, indent: String) {
        let label = key.replacingOccurrences(of: "_", with: " ")
        switch value {
        case .object(let members):
            print("\(indent)\(label):")
            if members.isEmpty { print("\(indent)  n/a") }
            for (k, v) in members { renderMember(k, v, indent: indent + "  ") }
        case .array(let items):
            print("\(indent)\(label):" + (items.isEmpty ? " n/a" : ""))
            for item in items {
                if let fields = item.objectFields {
                    print(indent + "  - " + fields.map { "\($0.key.replacingOccurrences(of: "_", with: " ")) \(scalar($0.key, $0.value))" }.joined(separator: ", "))
                } else {
                    print(indent + "  - " + scalar(key, item))
                }
            }
        default:
            print(pad(indent + label, 34) + scalar(key, value))
        }
    }

    /// A scalar for people: exact decimals as they are; a fraction named `*rate`/`*drawdown` (not an amount) as a percent.
    static func scalar(_ key: String, _ value: JSONValue) -> String {
        switch value {
        case .null: return "—"
        case .bool(let flag): return flag ? "yes" : "no"
        case .number(let text), .string(let text):
            if (key.hasSuffix("rate") || key == "max_drawdown" || key.hasSuffix("return")), let fraction = Double(text) {
                return String(format: "%.2f%%", fraction * 100)
            }
            return text
        case .array, .object: return value.text
        }
    }
}
