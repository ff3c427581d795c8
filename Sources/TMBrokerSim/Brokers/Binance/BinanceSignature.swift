import Foundation
import TMCrypto

/// Binance's request signing: `signature` = hex HMAC-SHA256(secret, totalParams), where totalParams
/// is the query string (without `signature`) directly followed by the body (without `signature`).
///
/// Guarantees: the exact bytes the client sent are checked (nothing is re-encoded); comparison is
/// constant-time (`HMACSHA256.isValid`).
public enum BinanceSignature {
    /// The text that was signed, and the signature the client sent (nil when none was).
    public static func signedPayload(query: String, body: String) -> (payload: String, signature: String?) {
        var signature: String?
        func strip(_ text: String) -> String {
            text.split(separator: "&", omittingEmptySubsequences: false).filter { part in
                guard part.hasPrefix("signature=") else { return true }
                signature = String(part.dropFirst("signature=".count))
                return false
            }.joined(separator: "&")
        }
        return (strip(query) + strip(body), signature)
    }

    /// True when `signature` (hex, either case) is the HMAC-SHA256 of `payload` under `secret`.
    public static func isValid(payload: String, signature: String, secret: String) -> Bool {
        guard let mac = Hex.decode(signature) else { return false }
        return HMACSHA256.isValid(mac: mac, message: Array(payload.utf8), key: Array(secret.utf8))
    }
}
