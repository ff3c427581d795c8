import ArgumentParser
import Foundation
import TMBrokers
import TMCore
import TMCrypto
import TMMarketData
import TMPostgres
import TMRedis
import TMSync

/// `tm accounts`: broker accounts — add with sealed credentials, list with their sync state, pause,
/// resume, and re-seal after a secret-key rotation.
struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage broker accounts (credentials are sealed; they are read from stdin or a file, never arguments).",
        subcommands: [List.self, Show.self, Add.self, Pause.self, Resume.self, RotateKey.self],
        defaultSubcommand: List.self)

    static func database() throws -> (PostgresConnection, TMEnvironment) {
        let environment = TMEnvironment.current()
        return (try PostgresConnection(configuration: PostgresConfiguration.fromEnvironment(environment)), environment)
    }

    /// Market-data's cached prices of the positions that have no price of their own (Binance coin
    /// balances), by "SYMBOL:EXCHANGE"; none when Redis cannot be reached (they then show as unpriced).
    static func cachedPrices(_ db: PostgresConnection, account: UUID?, environment: TMEnvironment) async -> [String: Decimal] {
        guard let wanted = try? AccountAdministration.unpricedInstruments(db, account: account), !wanted.isEmpty,
              let redis = try? await RedisClient(configuration: RedisConfiguration.fromEnvironment(environment), name: "tm-accounts") else { return [:] }
        defer { redis.close() }
        let nowMs = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        guard let cached = try? await PriceCache(redis: redis).read(wanted, nowMs: nowMs) else { return [:] }
        var prices: [String: Decimal] = [:]
        for (instrument, price) in zip(wanted, cached) { if let price { prices["\(instrument.symbol):\(instrument.exchange)"] = price.tick.price } }
        return prices
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every account: status, last sync, its outcome and counts, trades, exposure (per currency, from its positions).",
            discussion: "Positions with no price of their own (Binance coin balances) are valued at market-data's cached price.")
        @Flag(help: "Print as JSON.") var json = false

        func run() async throws {
            let (db, environment) = try database()
            defer { db.close() }
            let prices = await cachedPrices(db, account: nil, environment: environment)
            let accounts = try AccountAdministration.list(db) { prices["\($0):\($1)"] }
            if json { return try printJSON(accounts) }
            printAccounts(accounts)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One account: its sync state, funds (as of the sync that stored them), exposure and positions (multiplier, last price, unrealized P&L, exposure).")
        @Argument(help: "The account id.") var account: String
        @Flag(help: "Print as JSON.") var json = false

        struct Details: Encodable {
            var account: AccountAdministration.Summary
            var funds: [AccountAdministration.Funds]
            var positions: [AccountAdministration.Position]
        }

        func run() async throws {
            guard let id = UUID(uuidString: account) else { throw ValidationError("account: '\(account)' is not an account id (a UUID)") }
            let (db, environment) = try database()
            defer { db.close() }
            let prices = await cachedPrices(db, account: id, environment: environment)
            let price = { (symbol: String, exchange: String) in prices["\(symbol):\(exchange)"] }
            guard let summary = try AccountAdministration.list(db, account: id, cachedPrice: price).first else { throw ValidationError("account: no account \(account)") }
            let positions = try AccountAdministration.positions(db, account: id, cachedPrice: price)
            let funds = try AccountAdministration.funds(db, account: id)
            if json { return try printJSON(Details(account: summary, funds: funds, positions: positions)) }
            printAccounts([summary])
            print("")
            let time = ISO8601DateFormatter()
            print("SEGMENT     CURRENCY  AVAILABLE       CASH            USED            TOTAL           AS OF")
            for f in funds {
                print([pad(f.segment ?? "-", 12), pad(f.currency, 10), pad(f.available, 16), pad(f.cash ?? "-", 16), pad(f.used ?? "-", 16),
                       pad(f.total ?? "-", 16), time.string(from: f.asOf)].joined())
            }
            if funds.isEmpty { print("(no funds synced)") }
            print("")
            print("SYMBOL            EXCHANGE  QUANTITY        AVG PRICE       LAST PRICE      MULTIPLIER  UNREALIZED P&L  REALIZED P&L    EXPOSURE")
            for p in positions {
                print([pad(p.symbol, 18), pad(p.exchange, 10), pad(p.quantity, 16), pad(p.averagePrice, 16), pad(p.lastPrice ?? p.cachedPrice.map { "\($0) (cache)" } ?? "-", 16),
                       pad(p.multiplier, 12), pad(p.unrealizedPnl ?? "-", 16), pad(p.realizedPnl, 16), "\(p.exposure) \(p.currency ?? "")"].joined())
            }
            if positions.isEmpty { print("(no positions)") }
        }
    }

    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder.pretty
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func printAccounts(_ accounts: [AccountAdministration.Summary]) {
        let time = ISO8601DateFormatter()
        print("ID                                    USER                  BROKER   LABEL             STATUS  LAST SYNC             OUTCOME  FETCHED/CREATED/UPDATED  TRADES  EXPOSURE")
        for a in accounts {
            let counts = a.fetched.map { "\($0)/\(a.created ?? 0)/\(a.updated ?? 0)" } ?? "-"
            print([pad(a.id, 38), pad(a.user, 22), pad(a.broker, 9), pad(a.label, 18), pad(a.status, 8),
                   pad(a.lastSyncAt.map { time.string(from: $0) } ?? "never", 22), pad(a.lastOutcome ?? "-", 9), pad(counts, 25),
                   pad("\(a.trades)", 8), exposureText(a.exposure)].joined())
            if let reason = a.errorReason { print("    error: \(reason)") }
            if a.lastOutcome == "partial", let note = a.lastSyncError { print("    last sync: \(note)") }
        }
    }

    /// "1234.5 INR, 10 USD (+2 unpriced)"; "-" when flat.
    static func exposureText(_ exposure: [AccountAdministration.Exposure]) -> String {
        guard !exposure.isEmpty else { return "-" }
        return exposure.map { e in
            [e.amount, e.currency].compactMap { $0 }.joined(separator: " ") + (e.unpriced > 0 ? " (+\(e.unpriced) unpriced)" : "")
        }.joined(separator: ", ")
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a broker account; credentials come from --credentials FILE or stdin (none for a manual account).",
            discussion: """
                The credentials are JSON ({"api_key":"...","api_secret":"...","access_token":"..."}) or api_key=... lines.
                They are sealed (AES-256-GCM under TM_SECRET_KEY) before they are stored, and never printed.
                --broker manual adds an account without credentials for fills imported with `tm trades import`:
                it is never synced, has no market data and takes no orders.
                """)
        @Option(help: "The user's email.") var user: String
        @Option(help: "kite, upstox, alpaca, binance or manual.") var broker: String
        @Option(help: "A name for the account, unique per user and broker.") var label: String
        @Option(help: ArgumentHelp("A file with the credentials (default: stdin).", valueName: "file")) var credentials: String?

        func run() throws {
            if broker == ManualAccount.broker {
                guard credentials == nil else { throw ValidationError("--credentials: a manual account has none (there is no broker to call)") }
                let (db, _) = try database()
                defer { db.close() }
                let id = try AccountAdministration.addManual(db, userEmail: user, label: label)
                print("added manual account \(id.uuidString.lowercased()) for \(user) (import its trades with tm trades import --account \(id.uuidString.lowercased()) FILE.csv)")
                return
            }
            guard let kind = BrokerKind(rawValue: broker) else {
                throw ValidationError("--broker: '\(broker)' is not one of \((BrokerKind.allCases.map(\.rawValue) + [ManualAccount.broker]).joined(separator: ", "))")
            }
            let text: String
            if let credentials {
                guard let data = FileManager.default.contents(atPath: credentials) else { throw ValidationError("--credentials: cannot read \(credentials)") }
                text = String(decoding: data, as: UTF8.self)
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let parsed = try AccountAdministration.NewCredentials.parse(text)
            let (db, environment) = try database()
            defer { db.close() }
            let id = try AccountAdministration.add(db, keyring: try SecretKeyring.fromEnvironment(environment), userEmail: user, broker: kind,
                                                   label: label, credentials: parsed)
            print("added \(kind.rawValue) account \(id.uuidString.lowercased()) for \(user) (credentials sealed)")
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop syncing an account until it is resumed.")
        @Argument(help: "The account id.") var account: String

        func run() throws {
            guard let id = UUID(uuidString: account) else { throw ValidationError("account: '\(account)' is not an account id (a UUID)") }
            let (db, _) = try database()
            defer { db.close() }
            guard try AccountAdministration.setActive(db, account: id, active: false) else { throw ValidationError("account: no account \(account)") }
            print("paused \(account)")
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sync an account again (clears its error; due at once).")
        @Argument(help: "The account id.") var account: String

        func run() throws {
            guard let id = UUID(uuidString: account) else { throw ValidationError("account: '\(account)' is not an account id (a UUID)") }
            let (db, _) = try database()
            defer { db.close() }
            guard try AccountAdministration.setActive(db, account: id, active: true) else { throw ValidationError("account: no account \(account)") }
            print("resumed \(account); it syncs at the next broker-sync slot")
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-seal every credential and notification channel secret under the current TM_SECRET_KEY.",
            discussion: "Set the new key as TM_SECRET_KEY and the old one in TM_SECRET_KEYS_PREVIOUS, run this, then drop the old key.")

        func run() throws {
            let (db, environment) = try database()
            defer { db.close() }
            let keyring = try SecretKeyring.fromEnvironment(environment)
            let rotation = try AccountAdministration.rotateKey(db, keyring: keyring)
            let channels = rotation.channels
            print("re-sealed \(rotation.credentials) credential(s) of \(rotation.accounts) account(s) under key \(keyring.current.id); "
                  + "notification channels: \(channels.webhookURLs) webhook URL(s), \(channels.slackURLs) Slack URL(s), "
                  + "\(channels.signingSecrets) webhook signing secret(s)")
        }
    }
}
