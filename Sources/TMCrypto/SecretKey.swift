import COpenSSL
import TMCore

/// A 256-bit AES key for sealing secrets, with a key id derived from it.
///
/// Guarantees: always exactly 32 bytes; the key bytes never appear in `description`,
/// `debugDescription`, `dump()` or string interpolation (only the key id does); the id is a pure
/// function of the key (first 8 hex chars of SHA-256 over a domain-separated key), so no one has to
/// configure ids and every process agrees on them; the bytes are wiped from memory when the last
/// reference goes away. Immutable, hence `Sendable`.
public final class SecretKey: @unchecked Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public static let byteCount = 32

    /// 8 lowercase hex characters identifying this key inside sealed values.
    public let id: String
    // Owned, immutable after init; a raw allocation (not an Array) so no copy-on-write duplicates
    // of the key are scattered around memory and the single copy can be cleansed in deinit.
    private let storage: UnsafeMutableRawBufferPointer

    /// A key from raw bytes; throws `CryptoError.invalidKey` unless there are exactly 32.
    public convenience init(bytes: [UInt8], variable: String = "TM_SECRET_KEY") throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.invalidKey(variable: variable, reason: "key is \(bytes.count) bytes; need exactly \(Self.byteCount) (generate one with `openssl rand -base64 32`)")
        }
        self.init(validBytes: bytes, id: nil)
    }

    /// A key from base64 text such as the value of `TM_SECRET_KEY`. Errors name `variable` and say
    /// whether the text was not base64 or decoded to the wrong length — never what the text was.
    public convenience init(base64: String, variable: String = "TM_SECRET_KEY") throws {
        guard var decoded = Base64.decode(base64) else {
            throw CryptoError.invalidKey(variable: variable, reason: "not valid base64; expected the base64 of 32 random bytes (generate one with `openssl rand -base64 32`)")
        }
        defer { decoded.withUnsafeMutableBytes { if let p = $0.baseAddress { OPENSSL_cleanse(p, $0.count) } } }
        try self.init(bytes: decoded, variable: variable)
    }

    /// A fresh random key (for tests and for `tm` to print a new key).
    public static func generate() throws -> SecretKey {
        var bytes = try SecureRandom.bytes(count: byteCount)
        defer { bytes.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress!, $0.count) } }
        return SecretKey(validBytes: bytes, id: nil)
    }

    /// `id` overrides the derived id; only tests use it, to build a wrong key that claims a known id.
    init(validBytes bytes: [UInt8], id: String?) {
        precondition(bytes.count == Self.byteCount)
        storage = .allocate(byteCount: Self.byteCount, alignment: 16)
        storage.copyBytes(from: bytes)
        self.id = id ?? SecretKey.deriveID(bytes)
    }

    deinit {
        OPENSSL_cleanse(storage.baseAddress!, storage.count)
        storage.deallocate()
    }

    /// The key as base64, for printing a freshly generated key to put into `TM_SECRET_KEY`.
    /// Deliberately a method with a loud name, not a property that string interpolation might reach.
    public func exportBase64() -> String {
        Base64.encode(UnsafeRawBufferPointer(storage))
    }

    func withKeyBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// Same key material (constant time).
    func hasSameBytes(as other: SecretKey) -> Bool {
        CRYPTO_memcmp(storage.baseAddress!, other.storage.baseAddress!, Self.byteCount) == 0
    }

    /// Domain separation keeps the published id unrelated to any other hash of the key.
    private static func deriveID(_ bytes: [UInt8]) -> String {
        var input = Array("tmcrypto.secret-key-id.v1".utf8)
        input.append(0)
        input.append(contentsOf: bytes)
        defer { input.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress!, $0.count) } }
        return String(Hex.encode(SHA256Digest.hash(input)).prefix(8))
    }

    public var description: String { "SecretKey(id: \(id), bytes: <redacted>)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["id": id, "bytes": "<redacted>"]) }
}

/// The keys used to seal and open stored secrets: one current key that seals, plus older keys that
/// are still accepted for opening while stored values are re-sealed (`tm accounts rotate-key`).
///
/// Sealed text form: `tmseal.v1.<keyid>.<base64url(nonce[12] | ciphertext | tag[16])>`.
///
/// Guarantees: every seal uses a fresh random 96-bit nonce; the version and key id are bound into
/// the GCM associated data (with the caller's associated data), so they cannot be swapped or
/// edited without `open` failing; `open` either returns the exact plaintext or throws — a
/// tampered value, a wrong key or different associated data give `.authenticationFailed`, an id it
/// does not hold gives `.unknownKeyID`, a value not of the sealed form gives `.malformedSealed`.
/// Errors and `description` never contain key bytes, plaintext or the sealed input. Immutable and
/// `Sendable`; safe to share across tasks and threads.
public struct SecretKeyring: Sendable, CustomStringConvertible {
    public static let prefix = "tmseal"
    public static let version = "v1"
    public static let currentVariable = "TM_SECRET_KEY"
    public static let previousVariable = "TM_SECRET_KEYS_PREVIOUS"

    /// The key that seals.
    public let current: SecretKey
    /// Older keys accepted for opening only.
    public let previous: [SecretKey]
    private let byID: [String: SecretKey]

    /// Throws `.conflictingKeyID` if two different keys derive the same id; repeats of the same key
    /// (e.g. the current key also listed as previous) are harmless and dropped.
    public init(current: SecretKey, previous: [SecretKey] = []) throws {
        var byID = [current.id: current]
        var kept: [SecretKey] = []
        for key in previous {
            if let existing = byID[key.id] {
                guard existing.hasSameBytes(as: key) else { throw CryptoError.conflictingKeyID(key.id) }
                continue
            }
            byID[key.id] = key
            kept.append(key)
        }
        self.current = current
        self.previous = kept
        self.byID = byID
    }

    /// Reads `TM_SECRET_KEY` (required, base64 of 32 bytes) and `TM_SECRET_KEYS_PREVIOUS`
    /// (optional, comma-separated base64 keys). Errors name the variable (and the position in the list).
    public static func fromEnvironment(_ env: TMEnvironment) throws -> SecretKeyring {
        guard let value = env[currentVariable], !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw CryptoError.invalidKey(variable: currentVariable, reason: "not set; set it to the base64 of 32 random bytes (generate one with `openssl rand -base64 32`)")
        }
        let current = try SecretKey(base64: value, variable: currentVariable)
        var previous: [SecretKey] = []
        if let list = env[previousVariable] {
            let items = list.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            for (index, item) in items.enumerated() where !item.isEmpty {
                previous.append(try SecretKey(base64: item, variable: "\(previousVariable)[\(index)]"))
            }
        }
        return try SecretKeyring(current: current, previous: previous)
    }

    /// Whether this keyring can open values sealed under `keyID`.
    public func hasKey(id keyID: String) -> Bool { byID[keyID] != nil }

    // MARK: Seal

    public func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) throws -> String {
        let nonce = try SecureRandom.bytes(count: AES256GCM.nonceCount)
        let header = Self.header(keyID: current.id)
        let (ciphertext, tag) = try current.withKeyBytes {
            try AES256GCM.seal(plaintext, key: $0, nonce: nonce, aad: Self.aad(header: header, associatedData))
        }
        return header + "." + Base64URL.encode(nonce + ciphertext + tag)
    }

    /// Seals UTF-8 text; `associatedData` (e.g. `"broker_accounts:<id>:api_secret"`) must be given
    /// again to open, which stops a sealed value being copied into another row or column.
    public func seal(_ plaintext: String, associatedData: String = "") throws -> String {
        try seal(Array(plaintext.utf8), associatedData: Array(associatedData.utf8))
    }

    // MARK: Open

    public func open(_ sealed: String, associatedData: [UInt8] = []) throws -> [UInt8] {
        try prepare(sealed, associatedData: associatedData).open()
    }

    /// Opens a value sealed with `seal(_: String, associatedData: String)`.
    public func openString(_ sealed: String, associatedData: String = "") throws -> String {
        try Self.text(try open(sealed, associatedData: Array(associatedData.utf8)))
    }

    /// A sealed value parsed once — its key found, its payload decoded, its associated data built —
    /// for a holder that opens it again and again (a broker account's credentials, per call): each
    /// `openString()` then runs only the AEAD. It holds the ciphertext, never the plaintext, and
    /// prints nothing of it; it opens exactly what `openString(_:associatedData:)` opens, with the
    /// same errors (a malformed value or an unknown key fails here, once).
    public struct Prepared: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        let key: SecretKey
        let payload: [UInt8]
        let aad: [UInt8]

        public func open() throws -> [UInt8] {
            let nonce = payload.prefix(AES256GCM.nonceCount)
            let tag = payload.suffix(AES256GCM.tagCount)
            let ciphertext = payload[AES256GCM.nonceCount ..< payload.count - AES256GCM.tagCount]
            return try key.withKeyBytes { try AES256GCM.open(ciphertext, tag: tag, key: $0, nonce: nonce, aad: aad) }
        }

        public func openString() throws -> String { try SecretKeyring.text(try open()) }

        public var description: String { "SecretKeyring.Prepared(key: \(key.id), <sealed>)" }
        public var debugDescription: String { description }
        public var customMirror: Mirror { Mirror(self, children: ["key": key.id, "payload": "<sealed>"]) }
    }

    /// Parses `sealed` for opening later with `associatedData` (see `Prepared`).
    public func prepare(_ sealed: String, associatedData: String = "") throws(CryptoError) -> Prepared {
        try prepare(sealed, associatedData: Array(associatedData.utf8))
    }

    /// The same with the associated data as bytes (`open` is `prepare` then `Prepared.open`).
    public func prepare(_ sealed: String, associatedData: [UInt8]) throws(CryptoError) -> Prepared {
        let parsed = try Self.parse(sealed)
        guard let key = byID[parsed.keyID] else { throw .unknownKeyID(parsed.keyID) }
        return Prepared(key: key, payload: parsed.payload, aad: Self.aad(header: Self.header(keyID: parsed.keyID), associatedData))
    }

    private static func text(_ bytes: [UInt8]) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CryptoError.plaintextNotUTF8 }
        return text
    }

    // MARK: Rotation

    /// True when `sealed` is under a key other than the current one (so `tm accounts rotate-key`
    /// should re-seal it). Throws `.malformedSealed` for text that is not a sealed value.
    public func needsResealing(_ sealed: String) throws -> Bool {
        try Self.keyID(of: sealed) != current.id
    }

    /// Opens with whichever key sealed it and seals again under the current key.
    public func reseal(_ sealed: String, associatedData: [UInt8] = []) throws -> String {
        var plaintext = try open(sealed, associatedData: associatedData)
        defer { plaintext.withUnsafeMutableBytes { if let p = $0.baseAddress { OPENSSL_cleanse(p, $0.count) } } }
        return try seal(plaintext, associatedData: associatedData)
    }

    public func reseal(_ sealed: String, associatedData: String) throws -> String {
        try reseal(sealed, associatedData: Array(associatedData.utf8))
    }

    /// The key id a sealed value names, without opening it.
    public static func keyID(of sealed: String) throws -> String { try parse(sealed).keyID }

    public var description: String {
        "SecretKeyring(current: \(current.id), previous: [\(previous.map(\.id).joined(separator: ", "))])"
    }

    // MARK: Format

    private static func header(keyID: String) -> String { "\(prefix).\(version).\(keyID)" }

    /// header | 0x00 | caller's data: the header has a fixed shape, so the split is unambiguous.
    private static func aad(header: String, _ associatedData: [UInt8]) -> [UInt8] {
        var aad = Array(header.utf8)
        aad.append(0)
        aad.append(contentsOf: associatedData)
        return aad
    }

    /// Never echoes the input: a malformed "sealed" value may really be a plaintext secret.
    private static func parse(_ sealed: String) throws(CryptoError) -> (keyID: String, payload: [UInt8]) {
        let parts = sealed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            throw CryptoError.malformedSealed(part: "format", reason: "expected 4 dot-separated parts `\(prefix).\(version).<keyid>.<payload>`, found \(parts.count)")
        }
        guard parts[0] == prefix else {
            throw CryptoError.malformedSealed(part: "prefix", reason: "does not start with `\(prefix).`")
        }
        guard parts[1] == version else {
            throw CryptoError.malformedSealed(part: "version", reason: "unsupported version; this build reads `\(version)`")
        }
        let keyID = String(parts[2])
        guard keyID.utf8.count == 8, keyID.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw CryptoError.malformedSealed(part: "key id", reason: "expected 8 lowercase hex characters")
        }
        guard let payload = Base64URL.decode(String(parts[3])) else {
            throw CryptoError.malformedSealed(part: "payload", reason: "not unpadded base64url")
        }
        guard payload.count >= AES256GCM.nonceCount + AES256GCM.tagCount else {
            throw CryptoError.malformedSealed(part: "payload", reason: "\(payload.count) bytes; shorter than nonce (12) + tag (16)")
        }
        return (keyID, payload)
    }
}
