import Testing
import TMCore
@testable import TMCrypto

/// `SecretKeyring.prepare`: a sealed value parsed once and opened per use (a broker account's
/// credentials, per call) opens exactly what `openString` opens, fails as it fails, and prints
/// nothing of the secret.
@Suite struct PreparedSealedTests {
    @Test func aPreparedValueOpensWhatOpenStringOpensEveryTime() throws {
        let ring = try SecretKeyring(current: try SecretKey.generate())
        let sealed = try ring.seal("api-secret-value", associatedData: "broker_accounts:1:api_secret")
        let prepared = try ring.prepare(sealed, associatedData: "broker_accounts:1:api_secret")
        for _ in 0..<3 { #expect(try prepared.openString() == "api-secret-value") }
        #expect(try ring.openString(sealed, associatedData: "broker_accounts:1:api_secret") == "api-secret-value")
        // Bound to its row and column as before: other associated data does not open it.
        let elsewhere = try ring.prepare(sealed, associatedData: "broker_accounts:2:api_secret")
        #expect(throws: CryptoError.authenticationFailed) { try elsewhere.openString() }
    }

    @Test func aTamperedOrForeignValueFailsAndNothingOfItIsPrinted() throws {
        let ring = try SecretKeyring(current: try SecretKey.generate())
        let sealed = try ring.seal("api-secret-value")
        var payload = SealingTests.parts(sealed).payload
        payload[14] ^= 1
        let tampered = SealingTests.parts(sealed).header + "." + Base64URL.encode(payload)
        #expect(throws: CryptoError.authenticationFailed) { try ring.prepare(tampered).openString() }
        let other = try SecretKeyring(current: try SecretKey.generate())
        #expect(throws: CryptoError.self) { try other.prepare(sealed) }
        do {
            _ = try ring.prepare("api-secret-value")
            Issue.record("a plaintext was taken for a sealed value")
        } catch {
            #expect(!"\(error)".contains("api-secret-value"))
        }
        let prepared = try ring.prepare(sealed)
        let printed = "\(prepared) \(String(reflecting: prepared))"
        #expect(!printed.contains("api-secret-value") && !printed.contains(SealingTests.parts(sealed).header + "."))
        #expect(!printed.contains(Base64URL.encode(SealingTests.parts(sealed).payload)))
    }
}
