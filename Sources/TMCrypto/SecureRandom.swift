import COpenSSL

/// Cryptographically secure random bytes from libcrypto's `RAND_bytes` (the OS-seeded DRBG).
///
/// Guarantees: returns exactly the requested number of bytes or throws
/// `CryptoError.randomUnavailable`; never falls back to a weaker generator.
public enum SecureRandom {
    public static func bytes(count: Int) throws -> [UInt8] {
        precondition(count >= 0, "SecureRandom.bytes: negative count")
        if count == 0 { return [] }
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        // RAND_bytes takes an Int32 length, so very large requests are filled in chunks.
        while offset < count {
            let chunk = min(count - offset, 1 << 20)
            let rc = out.withUnsafeMutableBufferPointer { buf in
                RAND_bytes(buf.baseAddress! + offset, Int32(chunk))
            }
            guard rc == 1 else { throw CryptoError.randomUnavailable(libcryptoErrorDetail()) }
            offset += chunk
        }
        return out
    }

    /// A random token as lowercase hex (`byteCount` bytes → twice as many characters), e.g. for
    /// lock tokens, where uniqueness across processes is what matters.
    public static func hexToken(byteCount: Int = 16) throws -> String {
        Hex.encode(try bytes(count: byteCount))
    }
}
