import COpenSSL

/// AES-256-GCM through libcrypto's `EVP_CIPHER_CTX`; internal so that callers go through
/// `SecretKeyring`, which always draws a fresh random nonce (a reused GCM nonce is fatal to security).
enum AES256GCM {
    static let keyCount = 32
    static let nonceCount = 12
    static let tagCount = 16
    /// EVP update calls take Int32 lengths; larger inputs are processed in chunks of this size.
    private static let chunk = 1 << 20
    /// The cipher, fetched once: given `EVP_aes_256_gcm()`, libcrypto 3 looks the implementation up
    /// again on every init (a provider query under a lock; the order path opens a broker's
    /// credentials per call). A fetch that fails leaves no error queued on the first caller's
    /// thread; the fallback then fails at init the same way, refusing rather than using another cipher.
    nonisolated(unsafe) private static let cipher: OpaquePointer? = {
        if let fetched = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil) { return fetched }
        ERR_clear_error()
        return EVP_aes_256_gcm()
    }()

    static func seal(_ plaintext: [UInt8], key: UnsafeRawBufferPointer, nonce: [UInt8], aad: [UInt8]) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        precondition(key.count == keyCount && nonce.count == nonceCount)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw failure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let keyPtr = key.baseAddress!.assumingMemoryBound(to: UInt8.self)

        guard EVP_EncryptInit_ex(ctx, cipher, nil, nil, nil) == 1 else { throw failure("EVP_EncryptInit_ex") }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceCount), nil) == 1 else { throw failure("set IV length") }
        guard EVP_EncryptInit_ex(ctx, nil, nil, keyPtr, nonce) == 1 else { throw failure("EVP_EncryptInit_ex(key)") }
        try feedAAD(ctx, aad, encrypting: true)

        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        let written = try plaintext.withUnsafeBufferPointer { input in
            try ciphertext.withUnsafeMutableBufferPointer { try update(ctx, input, into: $0.baseAddress, encrypting: true) }
        }
        var finalLen: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)  // GCM writes nothing here; a valid buffer regardless
        guard EVP_EncryptFinal_ex(ctx, &scratch, &finalLen) == 1, written + Int(finalLen) == plaintext.count else {
            throw failure("EVP_EncryptFinal_ex")
        }
        var tag = [UInt8](repeating: 0, count: tagCount)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, Int32(tagCount), &tag) == 1 else { throw failure("get tag") }
        return (ciphertext, tag)
    }

    /// Throws `CryptoError.authenticationFailed` when the tag does not verify; no plaintext is
    /// returned in that case (the decrypted bytes are wiped).
    static func open(_ ciphertext: ArraySlice<UInt8>, tag: ArraySlice<UInt8>, key: UnsafeRawBufferPointer, nonce: ArraySlice<UInt8>, aad: [UInt8]) throws -> [UInt8] {
        precondition(key.count == keyCount && nonce.count == nonceCount && tag.count == tagCount)
        guard let ctx = EVP_CIPHER_CTX_new() else { throw failure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let keyPtr = key.baseAddress!.assumingMemoryBound(to: UInt8.self)

        guard EVP_DecryptInit_ex(ctx, cipher, nil, nil, nil) == 1 else { throw failure("EVP_DecryptInit_ex") }
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceCount), nil) == 1 else { throw failure("set IV length") }
        // The nonce and the tag are read where they lie (slices of the sealed box): no copies.
        let keyed = nonce.withUnsafeBufferPointer { EVP_DecryptInit_ex(ctx, nil, nil, keyPtr, $0.baseAddress) }
        guard keyed == 1 else { throw failure("EVP_DecryptInit_ex(key)") }
        try feedAAD(ctx, aad, encrypting: false)

        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        _ = try ciphertext.withUnsafeBufferPointer { input in
            try plaintext.withUnsafeMutableBufferPointer { try update(ctx, input, into: $0.baseAddress, encrypting: false) }
        }
        // SET_TAG only reads the bytes (its parameter is not const in the C API).
        let tagged = tag.withUnsafeBufferPointer {
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, Int32(tagCount), UnsafeMutableRawPointer(mutating: $0.baseAddress))
        }
        guard tagged == 1 else { throw failure("set tag") }
        var finalLen: Int32 = 0
        // DecryptFinal is where GCM checks the tag; its failure means tampering or a wrong key. It
        // writes nothing to its output; a valid 16-byte buffer regardless, on the stack.
        let verified = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) {
            EVP_DecryptFinal_ex(ctx, $0.baseAddress!, &finalLen)
        }
        guard verified == 1 else {
            ERR_clear_error()
            plaintext.withUnsafeMutableBytes { if let p = $0.baseAddress { OPENSSL_cleanse(p, $0.count) } }
            throw CryptoError.authenticationFailed
        }
        return plaintext
    }

    private static func feedAAD(_ ctx: OpaquePointer, _ aad: [UInt8], encrypting: Bool) throws {
        _ = try aad.withUnsafeBufferPointer { try update(ctx, $0, into: nil, encrypting: encrypting) }
    }

    /// Feeds `input` through the context in chunks (EVP lengths are Int32) and returns the bytes
    /// written to `output`; a nil `output` feeds additional authenticated data.
    private static func update(_ ctx: OpaquePointer, _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>?,
                               encrypting: Bool) throws -> Int {
        var written = 0
        var offset = 0
        while offset < input.count {
            let n = min(chunk, input.count - offset)
            var outLen: Int32 = 0
            let target = output.map { $0 + written }
            let rc = encrypting
                ? EVP_EncryptUpdate(ctx, target, &outLen, input.baseAddress! + offset, Int32(n))
                : EVP_DecryptUpdate(ctx, target, &outLen, input.baseAddress! + offset, Int32(n))
            guard rc == 1 else {
                throw failure(output == nil ? "AAD update" : encrypting ? "EVP_EncryptUpdate" : "EVP_DecryptUpdate")
            }
            written += Int(outLen)
            offset += n
        }
        return written
    }

    private static func failure(_ operation: String) -> CryptoError {
        .libcrypto(operation: operation, detail: libcryptoErrorDetail())
    }
}
