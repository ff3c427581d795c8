import ArgumentParser
import Foundation
import TMCore
import TMPortfolio
import TMPostgres
import TMRedis

/// `tm portfolio`: a user's live portfolio (from `portfolio:<user>`, else computed and stored), and
/// the daily snapshots.
struct Portfolio: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A user's live portfolio values (total, cash, day P&L, positions) and the daily snapshots.",
        subcommands: [Show.self, Snapshot.self],
        defaultSubcommand: Show.self)

    static func valuer() async throws -> PortfolioValuer {
        try await PortfolioValuer.open(environment: TMEnvironment.current(), poolSize: 2)
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One user's portfolio: from the cache (five minutes at most), else computed now and stored.",
            discussion: """
                Amounts are per currency (never added across currencies). A position's current price comes from the
                price cache; without one it is the last fill or the average price, shown as such (stale).
                Day P&L: the UTC day's fills (sells - buys - fees) plus the change since the previous close of what
                is held (see PortfolioArithmetic); marked incomplete when a previous close is unknown.
                """)
        @Option(help: "The user's email or id.") var user: String
        @Flag(help: "Compute now (and store), even when the cache holds a valuation.") var refresh = false
        @Flag(help: "Print as JSON (the cached document, plus from_cache).") var json = false

        func run() async throws {
            let valuer = try await Portfolio.valuer()
            let id: UUID
            do { id = try await valuer.pool.withConnection { [user] in try PortfolioRows.user($0, named: user) } } catch let error as PortfolioError {
                throw ValidationError("\(error)")
            }
            let (valuation, cached) = refresh ? (try await valuer.revalue(user: id), false) : try await valuer.current(user: id)
            if json {
                guard case .object(var members) = valuation.json else { return }
                members.append((key: "from_cache", value: .bool(cached)))
                print(JSONValue.object(members).prettyText)
                return
            }
            Self.render(valuation, user: user, cached: cached, nowMs: Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)))
        }

        static func render(_ v: PortfolioValuation, user: String, cached: Bool, nowMs: Int64) {
            let age = DurationText.format(.milliseconds(max(0, nowMs - v.computedAtMs)))
            Swift.print("portfolio of \(user) (\(v.userID.uuidString.lowercased())): computed \(age) ago, \(cached ? "from the cache" : "now (stored)"); day \(v.day) UTC")
            Swift.print("")
            Swift.print("CURRENCY  TOTAL VALUE       CASH              POSITIONS         UNREALIZED P&L    REALIZED P&L      DAY P&L")
            for t in v.totals {
                Swift.print([pad(t.currency, 10), pad(DecimalText.plain(t.totalValue), 18), pad(DecimalText.plain(t.cash), 18),
                             pad(DecimalText.plain(t.positionsValue), 18), pad(DecimalText.plain(t.unrealizedPnl), 18),
                             pad(DecimalText.plain(t.realizedPnl), 18),
                             DecimalText.plain(t.dayPnl) + (t.dayPnlComplete ? "" : " (incomplete: a previous close is unknown)")].joined())
            }
            if v.totals.isEmpty { Swift.print("(no cash, no positions)") }
            Swift.print("")
            let labels = Dictionary(v.accounts.map { ($0.accountID, "\($0.broker)/\($0.label)") }, uniquingKeysWith: { a, _ in a })
            Swift.print("ACCOUNT             SYMBOL          EXCHANGE  QUANTITY      AVG PRICE       PRICE           PRICE SOURCE (AGE)        MARKET VALUE      UNREALIZED P&L    DAY P&L")
            for p in v.positions {
                let age = p.priceAgeMs(nowMs: nowMs).map { " (\(DurationText.format(.milliseconds($0))))" } ?? ""
                let source = (p.priceSource == .cache ? "cache \(p.priceFeed ?? "")" : "\(p.priceSource.rawValue), stale") + age
                Swift.print([pad(labels[p.accountID] ?? p.accountID.uuidString.lowercased(), 20), pad(p.symbol, 16), pad(p.exchange, 10),
                             pad(DecimalText.plain(p.quantity), 14), pad(DecimalText.plain(p.averagePrice), 16), pad(DecimalText.plain(p.currentPrice), 16),
                             pad(source, 26), pad(DecimalText.plain(p.marketValue) + " " + p.currency, 18),
                             pad(DecimalText.plain(p.unrealizedPnl), 18), DecimalText.plain(p.dayPnl)].joined())
            }
            if v.positions.isEmpty { Swift.print("(no open positions)") }
        }
    }

    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the portfolio_snapshots rows of a UTC day (default today) for every account; a rerun updates them.",
            discussion: """
                What the daily portfolio-snapshot schedule runs. Positions and prices are as of now (the last sync, the
                price cache); --date picks the day whose fills make the day P&L, e.g. to write a day the schedule missed.
                """)
        @Option(help: "The UTC day, YYYY-MM-DD (default today).") var date: String?

        func run() async throws {
            let valuer = try await Portfolio.valuer()
            let outcome: (report: PortfolioValuer.Report, rows: Int)
            do { outcome = try await valuer.snapshot(day: date) } catch let error as PortfolioError { throw ValidationError("\(error)") }
            let day = date ?? PortfolioRows.day(of: Date())
            print("snapshot \(day): \(outcome.report.revalued.count) user(s), \(outcome.rows) row(s) written")
            for (user, error) in outcome.report.failed.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
                print("  failed: user \(user.uuidString.lowercased()): \(error)")
            }
            if !outcome.report.failed.isEmpty { throw ExitCode(1) }
        }
    }
}
