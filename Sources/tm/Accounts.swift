import ArgumentParser
import Foundation
import TMBrokers
import TMCore
import TMCrypto
import TMPostgres
import TMSync

/// `tm accounts`: broker accounts — add with sealed credentials, list with their sync state, pause,
/// resume, and re-seal after a secret-key rotation.
struct Accounts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage broker accounts (credentials are sealed; they are read from stdin or a file, never arguments).",
        subcommands: [List.self, Add.self, Pause.self, Resume.self, RotateKey.self],
        defaultSubcommand: List.self)

    static func database() throws -> (PostgresConnection, TMEnvironment) {
        let environment = TMEnvironment.current()
        return (try PostgresConnection(configuration: PostgresConfiguration.fromEnvironment(environment)), environment)
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every account: status, last sync, its outcome and counts, next sync.")
        @Flag(help: "Print as JSON.") var json = false

        func run() throws {
            let (db, _) = try database()
            defer { db.close() }
            let accounts = try AccountAdministration.list(db)
            if json {
                let encoder = JSONEncoder.pretty
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(accounts), as: UTF8.self))
                return
            }
            let time = ISO8601DateFormatter()
            print("ID                                    USER                  BROKER   LABEL             STATUS  LAST SYNC             OUTCOME  FETCHED/CREATED/UPDATED  TRADES")
            for a in accounts {
                let counts = a.fetched.map { "\($0)/\(a.created ?? 0)/\(a.updated ?? 0)" } ?? "-"
                print([pad(a.id, 38), pad(a.user, 22), pad(a.broker, 9), pad(a.label, 18), pad(a.status, 8),
                       pad(a.lastSyncAt.map { time.string(from: $0) } ?? "never", 22), pad(a.lastOutcome ?? "-", 9), pad(counts, 25), "\(a.trades)"]
                        .joined())
                if let reason = a.errorReason { print("    error: \(reason)") }
            }
        }

    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a broker account; credentials come from --credentials FILE or stdin.",
            discussion: """
                The credentials are JSON ({"api_key":"...","api_secret":"...","access_token":"..."}) or api_key=... lines.
                They are sealed (AES-256-GCM under TM_SECRET_KEY) before they are stored, and never printed.
                """)
        @Option(help: "The user's email.") var user: String
        @Option(help: "kite, upstox, alpaca or binance.") var broker: String
        @Option(help: "A name for the account, unique per user and broker.") var label: String
        @Option(help: ArgumentHelp("A file with the credentials (default: stdin).", valueName: "file")) var credentials: String?

        func run() throws {
            guard let kind = BrokerKind(rawValue: broker) else {
                throw ValidationError("--broker: '\(broker)' is not one of \(BrokerKind.allCases.map(\.rawValue).joined(separator: ", "))")
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
            abstract: "Re-seal every credential under the current TM_SECRET_KEY.",
            discussion: "Set the new key as TM_SECRET_KEY and the old one in TM_SECRET_KEYS_PREVIOUS, run this, then drop the old key.")

        func run() throws {
            let (db, environment) = try database()
            defer { db.close() }
            let keyring = try SecretKeyring.fromEnvironment(environment)
            let (accounts, values) = try AccountAdministration.rotateKey(db, keyring: keyring)
            print("re-sealed \(values) credential(s) of \(accounts) account(s) under key \(keyring.current.id)")
        }
    }
}
