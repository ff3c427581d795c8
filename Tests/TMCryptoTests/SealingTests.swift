import Testing
import TMCore
@testable import TMCrypto

/// AES-256-GCM sealing through `SecretKeyring`: round trips, tamper detection, key rotation, and
/// the configuration errors an operator sees.
@Suite struct SealingTests {
    static func ring(_ current: SecretKey? = nil, previous: [SecretKey] = []) throws -> SecretKeyring {
        try SecretKeyring(current: current ?? SecretKey.generate(), previous: previous)
    }

    /// Rebuilds a sealed string from its parts, for tampering.
    static func parts(_ sealed: String) -> (header: String, payload: [UInt8]) {
        let p = sealed.split(separator: ".")
        return (p[0...2].joined(separator: "."), Base64URL.decode(String(p[3]))!)
    }

    @Test func sealedFormIsSelfDescribing() throws {
        let key = try SecretKey.generate()
        let ring = try Self.ring(key)
        let sealed = try ring.seal("api-secret")
        let p = sealed.split(separator: ".")
        #expect(p.count == 4)
        #expect(p[0] == "tmseal" && p[1] == "v1" && String(p[2]) == key.id)
        #expect(key.id.count == 8 && Hex.decode(key.id) != nil)
        #expect(Base64URL.decode(String(p[3]))!.count == 12 + 10 + 16)
        #expect(try SecretKeyring.keyID(of: sealed) == key.id)
        // A fresh nonce each time: sealing the same text twice gives different values.
        #expect(try ring.seal("api-secret") != sealed)
    }

    @Test(arguments: [0, 1, 15, 16, 17, 1000, 3_000_000])
    func roundTrip(size: Int) throws {
        let ring = try Self.ring()
        let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let aad = Array("broker_accounts:42:api_secret".utf8)
        let sealed = try ring.seal(plaintext, associatedData: aad)
        #expect(try ring.open(sealed, associatedData: aad) == plaintext)
    }

    @Test func roundTripText() throws {
        let ring = try Self.ring()
        let sealed = try ring.seal("tøken ✓", associatedData: "acct:1")
        #expect(try ring.openString(sealed, associatedData: "acct:1") == "tøken ✓")
        #expect(try ring.openString(try ring.seal("")) == "")
    }

    @Test func differentAssociatedDataFails() throws {
        let ring = try Self.ring()
        let sealed = try ring.seal("secret", associatedData: "acct:1")
        #expect(throws: CryptoError.authenticationFailed) { try ring.openString(sealed, associatedData: "acct:2") }
        #expect(throws: CryptoError.authenticationFailed) { try ring.openString(sealed) }
    }

    @Test func everyFlippedBitFails() throws {
        let ring = try Self.ring()
        let sealed = try ring.seal(Array("a broker api secret".utf8), associatedData: [7])
        let (header, payload) = Self.parts(sealed)
        // Covers nonce (0..<12), ciphertext and tag (last 16).
        for index in payload.indices {
            for bit in 0..<8 {
                var tampered = payload
                tampered[index] ^= UInt8(1) << bit
                let forged = header + "." + Base64URL.encode(tampered)
                #expect(throws: CryptoError.authenticationFailed) { try ring.open(forged, associatedData: [7]) }
            }
        }
    }

    @Test func truncatedOrExtendedPayloadFails() throws {
        let ring = try Self.ring()
        let sealed = try ring.seal("0123456789")
        let (header, payload) = Self.parts(sealed)
        #expect(throws: CryptoError.authenticationFailed) { try ring.open(header + "." + Base64URL.encode(payload.dropLast())) }
        #expect(throws: CryptoError.authenticationFailed) { try ring.open(header + "." + Base64URL.encode(payload + [0])) }
    }

    @Test func wrongKeyWithSameIDIsRejected() throws {
        let right = try SecretKey.generate()
        // A different key that claims the same id, as after a misconfiguration or a 32-bit collision.
        let wrong = SecretKey(validBytes: try SecureRandom.bytes(count: 32), id: right.id)
        let sealed = try Self.ring(right).seal("secret")
        #expect(throws: CryptoError.authenticationFailed) { try Self.ring(wrong).open(sealed) }
    }

    @Test func keyIDIsBoundIntoTheSeal() throws {
        let a = try SecretKey.generate(), b = try SecretKey.generate()
        let ring = try Self.ring(a, previous: [b])
        let sealed = try ring.seal("secret")
        // Relabel a value sealed under a as if it were under b: both keys are held, still refused.
        let relabelled = sealed.replacingOccurrences(of: ".\(a.id).", with: ".\(b.id).")
        #expect(throws: CryptoError.authenticationFailed) { try ring.open(relabelled) }
    }

    @Test func unknownKeyIDIsNamed() throws {
        let old = try SecretKey.generate()
        let sealed = try Self.ring(old).seal("secret")
        let error = #expect(throws: CryptoError.self) { try Self.ring().open(sealed) }
        #expect(error == .unknownKeyID(old.id))
        #expect(error?.description.contains(old.id) == true)
        #expect(error?.description.contains("TM_SECRET_KEYS_PREVIOUS") == true)
    }

    @Test func malformedSealedNamesThePart() throws {
        let ring = try Self.ring()
        let good = try ring.seal("x")
        let p = good.split(separator: ".").map(String.init)
        let cases: [(String, String)] = [
            ("plain-secret-stored-by-mistake", "format"),
            ("xxseal.v1.\(p[2]).\(p[3])", "prefix"),
            ("tmseal.v9.\(p[2]).\(p[3])", "version"),
            ("tmseal.v1.ABCDEFGH.\(p[3])", "key id"),
            ("tmseal.v1.\(p[2]).not+base64url", "payload"),
            ("tmseal.v1.\(p[2]).AAAA", "payload"),
        ]
        for (input, part) in cases {
            let error = #expect(throws: CryptoError.self) { try ring.open(input) }
            guard case let .malformedSealed(got, _)? = error else {
                Issue.record("expected malformedSealed for \(part), got \(String(describing: error))")
                continue
            }
            #expect(got == part)
            // The input itself is never echoed back.
            #expect(error?.description.contains("plain-secret") == false)
        }
    }

    @Test func rotation() throws {
        let old = try SecretKey.generate(), new = try SecretKey.generate()
        let sealedOld = try Self.ring(old).seal("token", associatedData: "acct:9")
        let rotated = try Self.ring(new, previous: [old])
        #expect(try rotated.openString(sealedOld, associatedData: "acct:9") == "token")
        #expect(try rotated.needsResealing(sealedOld))
        let resealed = try rotated.reseal(sealedOld, associatedData: "acct:9")
        #expect(try !rotated.needsResealing(resealed))
        #expect(try SecretKeyring.keyID(of: resealed) == new.id)
        // Once old is dropped, only the resealed value opens.
        let newOnly = try Self.ring(new)
        #expect(try newOnly.openString(resealed, associatedData: "acct:9") == "token")
        #expect(throws: CryptoError.unknownKeyID(old.id)) { try newOnly.open(sealedOld) }
    }

    @Test func keyIDIsDeterministicAndKeyringDedupes() throws {
        let bytes = try SecureRandom.bytes(count: 32)
        let a = try SecretKey(bytes: bytes), b = try SecretKey(base64: Base64.encode(bytes))
        #expect(a.id == b.id)
        #expect(try SecretKey.generate().id != a.id)
        let ring = try SecretKeyring(current: a, previous: [b, a])
        #expect(ring.previous.isEmpty)
        let impostor = SecretKey(validBytes: try SecureRandom.bytes(count: 32), id: a.id)
        #expect(throws: CryptoError.conflictingKeyID(a.id)) { try SecretKeyring(current: a, previous: [impostor]) }
    }

    @Test func keyMaterialIsNeverPrinted() throws {
        let key = try SecretKey.generate()
        let b64 = key.exportBase64()
        let hex = Hex.encode(Base64.decode(b64)!)
        let ring = try Self.ring(key)
        var dumped = ""
        dump(key, to: &dumped)
        dump(ring, to: &dumped)
        for text in ["\(key)", String(reflecting: key), "\(ring)", String(reflecting: ring), dumped] {
            #expect(!text.contains(b64) && !text.contains(hex))
        }
        #expect("\(key)".contains(key.id))
    }

    // MARK: Configuration

    static func env(_ values: [String: String]) -> TMEnvironment {
        TMEnvironment(process: values, envFile: nil)
    }

    @Test func fromEnvironment() throws {
        let old = try SecretKey.generate(), older = try SecretKey.generate(), new = try SecretKey.generate()
        let ring = try SecretKeyring.fromEnvironment(Self.env([
            "TM_SECRET_KEY": new.exportBase64(),
            "TM_SECRET_KEYS_PREVIOUS": " \(old.exportBase64()), \(older.exportBase64()),",
        ]))
        #expect(ring.current.id == new.id)
        #expect(ring.previous.map(\.id) == [old.id, older.id])
        let sealed = try Self.ring(older).seal("t")
        #expect(try ring.openString(sealed) == "t")
    }

    @Test func badKeysNameTheVariable() throws {
        let b16 = Base64.encode([UInt8](repeating: 1, count: 16))
        let cases: [[String: String]] = [
            [:],
            ["TM_SECRET_KEY": ""],
            ["TM_SECRET_KEY": "this is not base64!!"],
            ["TM_SECRET_KEY": b16],
        ]
        for values in cases {
            let error = #expect(throws: CryptoError.self) { try SecretKeyring.fromEnvironment(Self.env(values)) }
            #expect(error?.description.hasPrefix("TM_SECRET_KEY:") == true, "\(String(describing: error))")
        }
        let short = #expect(throws: CryptoError.self) { try SecretKey(base64: b16) }
        #expect(short?.description.contains("16 bytes") == true)
        #expect(short?.description.contains(b16) == false)
        let notB64 = #expect(throws: CryptoError.self) { try SecretKey(base64: "%%%") }
        #expect(notB64?.description.contains("TM_SECRET_KEY") == true)
        #expect(notB64?.description.contains("base64") == true)

        let prev = #expect(throws: CryptoError.self) {
            try SecretKeyring.fromEnvironment(Self.env([
                "TM_SECRET_KEY": try SecretKey.generate().exportBase64(),
                "TM_SECRET_KEYS_PREVIOUS": "\(try SecretKey.generate().exportBase64()),\(b16)",
            ]))
        }
        #expect(prev?.description.hasPrefix("TM_SECRET_KEYS_PREVIOUS[1]:") == true)
    }
}
