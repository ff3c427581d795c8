/// Decides, when libcurl is about to connect (and again before a request is written on a reused
/// connection), whether the peer address may be talked to at all — the one place where no second
/// DNS look-up can differ from the checked one.
///
/// Guarantees, for a request that carries a guard (`HTTPRequest.connectionGuard`): every address
/// libcurl connects to — after its own look-up, for each address it tries, and for each redirect it
/// follows — is shown to `refusal` first, and a refused one gets no connection (no byte, not even a
/// TCP handshake); a reused connection is checked by its peer address before the request is
/// written; no proxy is used (a proxy would make the connection out of the guard's sight, so
/// `*_proxy` variables cannot reroute it). A refusal throws `HTTPClientError` of kind `.addressRefused`.
public struct ConnectionGuard: Sendable {
    /// nil lets `address` (4 bytes IPv4, 16 bytes IPv6) be connected to; otherwise why not (shown in the error).
    public let refusal: @Sendable (_ address: [UInt8]) -> String?

    public init(refusal: @escaping @Sendable (_ address: [UInt8]) -> String?) { self.refusal = refusal }

    /// `address` in its usual text form (`127.0.0.1`, `::1`), for errors.
    public static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        guard address.count == 16 else { return "(unknown address family)" }
        var groups: [String] = []
        for index in stride(from: 0, to: 16, by: 2) { groups.append(String(UInt16(address[index]) << 8 | UInt16(address[index + 1]), radix: 16)) }
        return groups.joined(separator: ":")
    }
}
