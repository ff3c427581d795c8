import ArgumentParser
import Foundation
import TMAlerts
import TMCore
import TMOrders
import TMPostgres
import TMRedis

/// `tm alerts`: price alerts (add, list, cancel); the alert-evaluator fires them.
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Price alerts: add, list and cancel them (the alert-evaluator fires them on market-ticks).",
        discussion: """
            An alert fires once (or again after --cooldown with --repeat) when a tick meets its condition: --above P (price ≥ P),
            --below P (price ≤ P), --change-percent X (|price / previous close − 1| × 100 ≥ X), --cross-up P (from below P to P or
            above), --cross-down P. Its notification (kind price_alert, priority high) goes through the outbox. A change is
            announced to running evaluators at once. A refusal prints `field: reason`, changes nothing and exits 1.
            """,
        subcommands: [Add.self, List.self, Cancel.self, AlertsAck.self])

    /// Runs a command that checks before it writes: a refusal prints `field: reason` and exits 1.
    static func refusing(_ body: () async throws -> Void) async throws { try await Orders.refusing(nothing: "nothing was changed", body) }

    /// Tells running evaluators (after the commit); a failure only delays it to their next full reload.
    static func announce() async {
        do {
            let redis = try await RedisClient(configuration: RedisConfiguration.fromEnvironment(), name: "tm-alerts")
            defer { redis.close() }
            try await PriceAlerts.announce(redis)
        } catch {
            FileHandle.standardError.write(Data("warning: could not tell running evaluators at once (\(error)); they reload within 5 minutes\n".utf8))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a price alert for a user.")
        @Option(help: "The user: id or email.") var user: String
        @Option(help: "The instrument's symbol, e.g. INFY.") var symbol: String
        @Option(help: "The exchange (default: the one exchange that lists the symbol).") var exchange: String?
        @Option(help: "Fire when the price is at or above this.") var above: String?
        @Option(help: "Fire when the price is at or below this.") var below: String?
        @Option(name: .customLong("change-percent"), help: "Fire when the price is this many percent or more from the previous close.") var changePercent: String?
        @Option(name: .customLong("cross-up"), help: "Fire when the price rises from below this to it or above.") var crossUp: String?
        @Option(name: .customLong("cross-down"), help: "Fire when the price falls from above this to it or below.") var crossDown: String?
        @Flag(help: "Fire again after --cooldown (default: fire once).") var `repeat` = false
        @Option(help: "With --repeat: how long after a firing the alert re-arms, e.g. 10m.") var cooldown: String?
        @Option(help: "Stop at this time (ISO 8601, e.g. 2026-12-31T00:00:00Z).") var expires: String?
        @Option(name: .customLong("expires-in"), help: "Stop after this long, e.g. 1d.") var expiresIn: String?
        @Option(help: "A note shown with the notification.") var note: String?
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            try await Alerts.refusing {
                let given: [(PriceAlertCondition, String?)] = [(.above, above), (.below, below), (.changePercent, changePercent), (.crossUp, crossUp), (.crossDown, crossDown)]
                let chosen = given.compactMap { condition, value in value.map { (condition, $0) } }
                guard chosen.count == 1, let choice = chosen.first else {
                    throw PriceAlertInputError("condition", "give exactly one of --above, --below, --change-percent, --cross-up, --cross-down")
                }
                let (condition, threshold) = choice
                var cooldownValue: Duration?
                switch (self.repeat, cooldown) {
                case (true, nil): throw PriceAlertInputError("cooldown", "--repeat needs --cooldown (e.g. 10m)")
                case (false, .some): throw PriceAlertInputError("cooldown", "only with --repeat")
                case (true, .some(let text)):
                    do { cooldownValue = try DurationText.parse(text) } catch { throw PriceAlertInputError("cooldown", "\(error)") }
                case (false, nil): break
                }
                var expiresAt: Date?
                switch (expires, expiresIn) {
                case (.some, .some): throw PriceAlertInputError("expires", "give --expires or --expires-in, not both")
                case (.some(let text), nil):
                    guard let date = ISO8601DateFormatter().date(from: text) else { throw PriceAlertInputError("expires", "'\(text)' is not an ISO 8601 time (e.g. 2026-12-31T00:00:00Z)") }
                    expiresAt = date
                case (nil, .some(let text)):
                    do { expiresAt = Date().addingTimeInterval(try DurationText.parse(text).seconds) } catch { throw PriceAlertInputError("expires_in", "\(error)") }
                case (nil, nil): break
                }
                let db = try PostgresConnection.connect()
                defer { db.close() }
                let alert = try PriceAlerts.add(db, NewPriceAlert(user: user, symbol: symbol, exchange: exchange, condition: condition, threshold: threshold,
                                                                  cooldown: cooldownValue, expiresAt: expiresAt, note: note))
                await Alerts.announce()
                if json { return print(alert.json.prettyText) }
                print("added alert \(alert.id.uuidString.lowercased()): \(alert.symbol) (\(alert.exchange)) \(alert.condition.rawValue) \(alert.threshold) for \(alert.userEmail)"
                      + (alert.repeats ? ", repeating every \(DurationText.format(.seconds(alert.cooldownSeconds ?? 0)))" : ", fires once")
                      + (alert.expiresAt.map { ", until \(ISO8601DateFormatter().string(from: $0))" } ?? ""))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Price alerts, newest first: condition, threshold, state, fire count.")
        @Option(help: "Only this user's (id or email).") var user: String?
        @Option(help: "Only alerts in this state: active, triggered, cancelled, expired.") var state: String?
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            try await Alerts.refusing {
                guard limit > 0 else { throw PriceAlertInputError("limit", "must be positive") }
                var wanted: PriceAlertState?
                if let state {
                    guard let known = PriceAlertState(rawValue: state.lowercased()) else {
                        throw PriceAlertInputError("state", "'\(state)' is not one of \(PriceAlertState.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    wanted = known
                }
                let db = try PostgresConnection.connect()
                defer { db.close() }
                let alerts = try PriceAlerts.list(db, user: try user.map { try PriceAlerts.user($0, in: db) }, state: wanted, limit: limit)
                if json { return print(JSONValue.array(alerts.map(\.json)).prettyText) }
                print("ID                                    USER                      SYMBOL        EXCHANGE  CONDITION       THRESHOLD     STATE      FIRED  REPEAT   EXPIRES")
                let iso = ISO8601DateFormatter()
                for a in alerts {
                    print([pad(a.id.uuidString.lowercased(), 38), pad(a.userEmail, 26), pad(a.symbol, 14), pad(a.exchange, 10), pad(a.condition.rawValue, 16),
                           pad(a.threshold, 14), pad(a.state.rawValue, 11), pad(String(a.fireCount), 7),
                           pad(a.cooldownSeconds.map { DurationText.format(.seconds($0)) } ?? "-", 9), a.expiresAt.map(iso.string) ?? "-"].joined())
                }
                if alerts.isEmpty { print("(no alerts)") }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a price alert that can still fire.")
        @Argument(help: "The alert id.") var id: String
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            try await Alerts.refusing {
                let db = try PostgresConnection.connect()
                defer { db.close() }
                let alert = try PriceAlerts.cancel(db, id)
                await Alerts.announce()
                if json { return print(alert.json.prettyText) }
                print("cancelled alert \(alert.id.uuidString.lowercased()) (\(alert.symbol) \(alert.condition.rawValue) \(alert.threshold), fired \(alert.fireCount) times)")
            }
        }
    }
}
