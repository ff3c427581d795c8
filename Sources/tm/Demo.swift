import ArgumentParser
import Foundation
import TMCore
import TMCrypto
import TMDatabase
import TMPostgres

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Demo data for a local system.",
        subcommands: [Seed.self, Show.self])

    struct Seed: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add the demo users, broker accounts and instruments (idempotent).")

        func run() throws {
            let environment = TMEnvironment.current()
            let db = try PostgresConnection(configuration: PostgresConfiguration.fromEnvironment(environment))
            defer { db.close() }
            let report = try DemoData.seed(db, keyring: SecretKeyring.fromEnvironment(environment))
            print("demo data: \(report.users) user(s), \(report.accounts) broker account(s), \(report.instruments) instrument(s) added"
                  + (report.users + report.accounts + report.instruments == 0 ? " (already seeded)" : ""))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their broker accounts (credentials stay sealed).")

        func run() throws {
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let rows = try db.query("""
                SELECT u.email, a.broker, a.label, a.status, a.next_sync_at, a.last_sync_at,
                       split_part(a.api_key_sealed, '.', 3) AS key_id
                FROM broker_accounts a JOIN users u ON u.id = a.user_id
                ORDER BY u.email, a.broker, a.label
                """)
            print("email".padding(toLength: 22, withPad: " ", startingAt: 0) + "broker   label            status  sealed with key")
            for row in rows {
                let email = try row.decode("email", as: String.self)
                let broker = try row.decode("broker", as: String.self)
                let label = try row.decode("label", as: String.self)
                let status = try row.decode("status", as: String.self)
                let keyID = try row.decode("key_id", as: String?.self) ?? "-"
                print(email.padding(toLength: 22, withPad: " ", startingAt: 0)
                      + broker.padding(toLength: 9, withPad: " ", startingAt: 0)
                      + label.padding(toLength: 17, withPad: " ", startingAt: 0)
                      + status.padding(toLength: 8, withPad: " ", startingAt: 0) + keyID)
            }
        }
    }
}
