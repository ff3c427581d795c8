import COpenSSL

/// Calls `body` with a pointer that is never nil, even for empty input: some libcrypto entry points
/// treat a NULL buffer differently from an empty one, and Swift gives nil for empty arrays.
@inline(__always)
func withNonNullBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int) throws -> R) rethrows -> R {
    if bytes.isEmpty {
        var zero: UInt8 = 0
        return try body(&zero, 0)
    }
    return try bytes.withUnsafeBufferPointer { try body($0.baseAddress!, $0.count) }
}

/// The most recent libcrypto error as text, for error messages (never contains caller data).
func libcryptoErrorDetail() -> String {
    let code = ERR_get_error()
    guard code != 0 else { return "no detail from libcrypto" }
    var buffer = [CChar](repeating: 0, count: 256)
    ERR_error_string_n(code, &buffer, buffer.count)
    ERR_clear_error()
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// SHA-256 (FIPS 180-4) through libcrypto's `EVP_Digest`.
///
/// Guarantees: returns exactly 32 bytes; stateless and safe from any thread. libcrypto can only fail
/// here on allocation failure, which is treated as fatal like any other out-of-memory in Swift.
public enum SHA256Digest {
    public static let byteCount = 32

    /// Fetched once (libcrypto's fetched objects are shareable between threads): with `EVP_sha256()`
    /// every `EVP_Digest` fetches the implementation from the provider again, a third of the cost of
    /// hashing a short key (the router derives a client order id per order).
    nonisolated(unsafe) private static let algorithm: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()

    public static func hash(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var size: UInt32 = 0
        let ok = withNonNullBytes(data) { ptr, count in
            EVP_Digest(ptr, count, &out, &size, algorithm, nil)
        }
        guard ok == 1, size == UInt32(byteCount) else {
            fatalError("libcrypto EVP_Digest(SHA-256) failed: \(libcryptoErrorDetail())")
        }
        return out
    }

    public static func hash(_ text: String) -> [UInt8] { hash(Array(text.utf8)) }

    /// Lowercase hex of the digest, e.g. for idempotency-key hashing.
    public static func hex(_ data: [UInt8]) -> String { Hex.encode(hash(data)) }
    public static func hex(_ text: String) -> String { Hex.encode(hash(text)) }
}

/// HMAC-SHA256 (RFC 2104 / RFC 4231) through libcrypto's one-shot `HMAC()`.
///
/// Guarantees: returns exactly 32 bytes for any key length (long keys are hashed first, as the RFC
/// says); `isValid` compares in constant time so a verifier does not leak how many bytes matched.
public enum HMACSHA256 {
    public static let byteCount = 32

    public static func authenticate(message: [UInt8], key: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var size: UInt32 = 0
        let result = withNonNullBytes(key) { keyPtr, keyCount in
            withNonNullBytes(message) { msgPtr, msgCount in
                HMAC(EVP_sha256(), keyPtr, Int32(keyCount), msgPtr, msgCount, &out, &size)
            }
        }
        guard result != nil, size == UInt32(byteCount) else {
            fatalError("libcrypto HMAC(SHA-256) failed: \(libcryptoErrorDetail())")
        }
        return out
    }

    public static func authenticate(message: String, key: String) -> [UInt8] {
        authenticate(message: Array(message.utf8), key: Array(key.utf8))
    }

    /// Lowercase hex MAC, the form Binance expects in `signature=`.
    public static func hex(message: String, key: String) -> String {
        Hex.encode(authenticate(message: message, key: key))
    }

    public static func hex(message: [UInt8], key: [UInt8]) -> String {
        Hex.encode(authenticate(message: message, key: key))
    }

    /// True when `mac` is the MAC of `message` under `key`; constant-time in the MAC bytes.
    public static func isValid(mac: [UInt8], message: [UInt8], key: [UInt8]) -> Bool {
        ConstantTime.equals(mac, authenticate(message: message, key: key))
    }
}

/// Comparison that takes the same time wherever the first difference is.
///
/// Guarantees: for equal-length inputs the running time does not depend on their contents
/// (`CRYPTO_memcmp`); different lengths return false at once (lengths are not secret here).
public enum ConstantTime {
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
        }
    }
}
