import Foundation
import Testing
import TestSupport
import TMBrokers
import TMCore
import TMCrypto
import TMDatabase
import TMOrders
import TMPostgres

/// An account's credentials are parsed once when its line is opened (`SecretKeyring.prepare`), and
/// the line is kept: credentials replaced in the account's row (a Kite user logged in again: new
/// key and token) are not used stale past the broker's refusal — the refused line is forgotten, and
/// the next order opens the row's new credentials.
@Suite(.serialized) struct ReplacedCredentialsTests {
    @Test func credentialsReplacedInTheRowAreUsedOnceTheBrokerRefusesTheOldOnes() async throws {
        let h = try await PlacementHarness()
        defer { Task { await h.cleanUp() } }
        let account = try #require(h.accounts[.kite])
        let placer = h.placer()
        let first = try await placer.handle(h.place(.kite, key: "replaced-1"), fences: PlacementHarness.delivery())
        #expect(first.state == .accepted, "\(first.text)")

        // The user logs in again: a new key and token at the broker, the old token expired there,
        // the row sealed anew (bound to its account and column, as `tm accounts add` seals).
        let newKey = "key-kite-new-\(h.secret)", newToken = "token-new-\(h.secret)"
        try h.sim.admin("POST", "/admin/accounts",
                        #"{"broker":"kite","api_key":"\#(newKey)","api_secret":"\#(h.secret)","access_token":"\#(newToken)"}"#)
        try h.sim.admin("POST", "/admin/accounts/kite/\(h.apiKey(.kite))/expire-token", "{}")
        func sealed(_ value: String, _ field: String) throws -> String {
            try h.keyring.seal(value, associatedData: DemoData.credentialContext(accountID: account, field: field))
        }
        try h.db.execute("""
            UPDATE broker_accounts SET api_key_sealed = \(try sealed(newKey, "api_key")), access_token_sealed = \(try sealed(newToken, "access_token"))
            WHERE id = \(account)
            """)

        // The line opened before the change still holds the old credentials: the broker refuses them.
        let refused = try await placer.handle(h.place(.kite, key: "replaced-2"), fences: PlacementHarness.delivery())
        #expect(refused.state == .rejected, "\(refused.text)")
        // ... and nothing of either set of credentials reaches the result or the order's row.
        let reason: String = try h.db.query("SELECT coalesce(reject_code, '') || ' ' || coalesce(reject_reason, '') AS reason FROM orders WHERE idempotency_key = 'replaced-2'")
            .rows[0].decode("reason")
        for text in [refused.text, reason] {
            for secret in [h.secret, h.apiKey(.kite), newKey, newToken] { #expect(!text.contains(secret), "a credential in '\(text)'") }
        }
        // Refused once: the next order reads the row again and goes out with the new credentials.
        let third = try await placer.handle(h.place(.kite, key: "replaced-3"), fences: PlacementHarness.delivery())
        #expect(third.state == .accepted, "\(third.text)")
        let truth = try JSONValue.parse(try h.sim.admin("GET", "/admin/truth?broker=kite&api_key=\(newKey)"))
        let clientOrderID: String = try h.row(key: "replaced-3").decode("client_order_id")
        #expect(truth["orders_per_client_id"]?[clientOrderID]?.intValue == 1, "placed under the new key")
    }
}
