/// Every failure TMCrypto reports.
///
/// Guarantees: descriptions name what was wrong (which variable, which part of a sealed value, which
/// key id) but never contain key bytes, plaintext, or the sealed input itself — a sealed column
/// that accidentally holds a plaintext secret must not leak through an error message or a log line.
public enum CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A key from configuration is missing or malformed; `variable` is e.g. `TM_SECRET_KEY`.
    case invalidKey(variable: String, reason: String)
    /// Two different keys in one keyring derive the same key id (a 32-bit collision), so opening
    /// could not tell them apart.
    case conflictingKeyID(String)
    /// The sealed text is not of the form `tmseal.v1.<keyid>.<payload>`; `part` names the bad part.
    case malformedSealed(part: String, reason: String)
    /// The value was sealed under a key this keyring does not hold.
    case unknownKeyID(String)
    /// The tag did not verify: the value was tampered with, or the key / associated data differ.
    case authenticationFailed
    /// The opened plaintext was expected to be UTF-8 text and is not.
    case plaintextNotUTF8
    /// The system random generator failed (RAND_bytes returned an error).
    case randomUnavailable(String)
    /// A libcrypto call failed for a reason other than authentication (e.g. out of memory).
    case libcrypto(operation: String, detail: String)

    public var description: String {
        switch self {
        case let .invalidKey(variable, reason):
            return "\(variable): \(reason)"
        case let .conflictingKeyID(id):
            return "two different secret keys share key id \(id); drop one of them from TM_SECRET_KEY / TM_SECRET_KEYS_PREVIOUS"
        case let .malformedSealed(part, reason):
            return "malformed sealed value (\(part)): \(reason)"
        case let .unknownKeyID(id):
            return "sealed value uses unknown key id \(id); if it was sealed under an older key, add that key (base64) to TM_SECRET_KEYS_PREVIOUS"
        case .authenticationFailed:
            return "authentication failed: the sealed value was tampered with, or was sealed under a different key or associated data"
        case .plaintextNotUTF8:
            return "opened value is not valid UTF-8 text"
        case let .randomUnavailable(detail):
            return "secure random bytes unavailable: \(detail)"
        case let .libcrypto(operation, detail):
            return "libcrypto \(operation) failed: \(detail)"
        }
    }
}
