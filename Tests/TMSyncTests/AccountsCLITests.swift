import Foundation
import Testing
import TestSupport
import TMCrypto
import TMPostgres

/// `tm accounts` as an operator runs it: credentials from stdin or a file (never arguments), sealed;
/// pause and resume; a key rotation re-seals every credential.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AccountsCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    @Test func addListPauseResumeAndRotateTheKey() async throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_accounts")
        let oldKey = try SecretKey.generate(), newKey = try SecretKey.generate()
        var env = ProcessInfo.processInfo.environment
        env["TM_ENV_FILE"] = "/nonexistent"
        env["TM_DATABASE_URL"] = database.url
        env["TM_SECRET_KEY"] = oldKey.exportBase64()
        let db = try database.connect()
        defer { db.close() }
        try db.execute("INSERT INTO users (email, display_name) VALUES ('ops@test.local', 'Ops')")
        let secret = "very-secret-\(UUID().uuidString.prefix(6))"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("creds") + ".json")
        defer { try? FileManager.default.removeItem(at: file) }
        try #"{"api_key":"key-\#(secret)","api_secret":"\#(secret)","access_token":"tok-\#(secret)"}"#.write(to: file, atomically: true, encoding: .utf8)

        let added = try await runProcess(tm, ["accounts", "add", "--user", "ops@test.local", "--broker", "kite", "--label", "main", "--credentials", file.path], environment: env)
        #expect(added.status == 0, "\(added.output)")
        #expect(!added.output.contains(secret))
        let id = try #require(added.output.range(of: "[0-9a-f-]{36}", options: .regularExpression).map { String(added.output[$0]) })
        let row = try db.query("SELECT api_key_sealed, api_secret_sealed FROM broker_accounts WHERE id = \(UUID(uuidString: id)!)").rows[0]
        #expect(try row.decode("api_secret_sealed", as: String.self).hasPrefix("tmseal.v1.\(oldKey.id)."))
        #expect(try !row.decode("api_secret_sealed", as: String.self).contains(secret))

        let duplicate = try await runProcess(tm, ["accounts", "add", "--user", "ops@test.local", "--broker", "kite", "--label", "main", "--credentials", file.path], environment: env)
        #expect(duplicate.status != 0)
        #expect(duplicate.output.contains("label: ops@test.local already has a kite account labelled 'main'"))
        let badBroker = try await runProcess(tm, ["accounts", "add", "--user", "ops@test.local", "--broker", "etrade", "--label", "x", "--credentials", file.path], environment: env)
        #expect(badBroker.output.contains("--broker: 'etrade' is not one of kite, upstox, alpaca, binance"))
        try "api_secret=s".write(to: file, atomically: true, encoding: .utf8)
        let noKey = try await runProcess(tm, ["accounts", "add", "--user", "ops@test.local", "--broker", "alpaca", "--label", "x", "--credentials", file.path], environment: env)
        #expect(noKey.output.contains("api_key: required"))

        #expect(try await runProcess(tm, ["accounts", "pause", id], environment: env).status == 0)
        var listed = try await runProcess(tm, ["accounts", "--json"], environment: env)
        #expect(listed.output.contains("\"status\" : \"paused\""), "\(listed.output)")
        #expect(try await runProcess(tm, ["accounts", "resume", id], environment: env).status == 0)
        listed = try await runProcess(tm, ["accounts"], environment: env)
        #expect(listed.output.contains("active"))
        #expect(!listed.output.contains(secret))

        // Rotation: the new key current, the old one still accepted for opening; afterwards every
        // credential is sealed under the new key and opens with it alone.
        env["TM_SECRET_KEY"] = newKey.exportBase64()
        env["TM_SECRET_KEYS_PREVIOUS"] = oldKey.exportBase64()
        let rotated = try await runProcess(tm, ["accounts", "rotate-key"], environment: env)
        #expect(rotated.status == 0, "\(rotated.output)")
        #expect(rotated.output.contains("re-sealed 3 credential(s) of 1 account(s) under key \(newKey.id)"))
        let after = try db.query("SELECT api_secret_sealed FROM broker_accounts WHERE id = \(UUID(uuidString: id)!)").rows[0]
        let sealed: String = try after.decode("api_secret_sealed")
        #expect(sealed.hasPrefix("tmseal.v1.\(newKey.id)."))
        let onlyNew = try SecretKeyring(current: newKey)
        #expect(try onlyNew.openString(sealed, associatedData: "broker_accounts/\(id)/api_secret") == secret)
        #expect(try await runProcess(tm, ["accounts", "rotate-key"], environment: env).output.contains("re-sealed 0 credential(s)"))
    }
}
