import COpenSSL

/// Facts about the linked libcrypto, for `tm version` and `tm doctor`.
public enum CryptoLibrary {
    /// The OpenSSL version string, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public static var version: String {
        guard let text = OpenSSL_version(Int32(OPENSSL_VERSION)) else { return "unknown" }
        return String(cString: text)
    }
}
