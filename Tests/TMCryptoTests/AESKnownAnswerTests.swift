import Testing
import TMCore
@testable import TMCrypto

/// AES-256-GCM against a value sealed by another implementation (Python's `cryptography`, AESGCM):
/// the cipher libcrypto is asked for is AES-256-GCM itself (a round trip alone would pass with any
/// cipher used on both sides), and `open` reads the nonce and the tag from their own slices of one
/// sealed box, as `SecretKeyring.Prepared` hands them over.
@Suite struct AESKnownAnswerTests {
    static let key = (0..<32).map { UInt8($0) }
    static let nonce = (100..<112).map { UInt8($0) }
    static let aad = Array("broker_accounts:42:api_secret".utf8)
    static let plaintext = Array(#"api-secret "quoted" \ 0123456789"#.utf8)
    static let ciphertext = Hex.decode("296bb74b0a8c35ec5b167fcaab10058927a6242ad74cc34395e2987dcd949d71")!
    static let tag = Hex.decode("7d8edf0490d1a8a5f5f3cd234c42b8d5")!

    @Test func sealGivesTheOtherImplementationsBytes() throws {
        let sealed = try Self.key.withUnsafeBytes { try AES256GCM.seal(Self.plaintext, key: $0, nonce: Self.nonce, aad: Self.aad) }
        #expect(sealed.ciphertext == Self.ciphertext)
        #expect(sealed.tag == Self.tag)
    }

    @Test func openReadsTheNonceAndTagFromTheirSlicesOfOneBox() throws {
        let box = Self.nonce + Self.ciphertext + Self.tag
        let opened = try Self.key.withUnsafeBytes {
            try AES256GCM.open(box[12..<(box.count - 16)], tag: box.suffix(16), key: $0, nonce: box.prefix(12), aad: Self.aad)
        }
        #expect(opened == Self.plaintext)
        // The same box with one bit of its tag flipped: refused.
        var forged = box
        forged[forged.count - 1] ^= 1
        #expect(throws: CryptoError.authenticationFailed) {
            try Self.key.withUnsafeBytes {
                try AES256GCM.open(forged[12..<(forged.count - 16)], tag: forged.suffix(16), key: $0, nonce: forged.prefix(12), aad: Self.aad)
            }
        }
    }
}
