import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TMCore
import TMHTTP

/// Where a user-given webhook or Slack URL may point, so the notifier cannot be made to POST into
/// the platform's own network (SSRF): `http` or `https` to a host whose every address is public —
/// not loopback, private (RFC 1918, unique-local, carrier-grade NAT), link-local, a cloud metadata
/// address, unspecified, multicast or reserved — unless the deployment allows private targets
/// (`TM_NOTIFY_ALLOW_PRIVATE_TARGETS=1`: the dev and test profiles, whose receivers run on loopback).
///
/// Guarantees: a refusal names the field and the reason, and shows the host but never the URL's
/// path or query (a Slack URL's path is its credential); a host name is checked by every address it
/// resolves to, and numeric spellings (`2130706433`, `0x7f.1`, `::ffff:127.0.0.1`) are read as the
/// resolver (and so libcurl) reads them. A name that does not resolve is not refused when a channel
/// is added; before each send (`atSend`) it must resolve, else nothing is sent and the delivery is
/// retried (a failed look-up must never let an unchecked name through to libcurl's own look-up).
/// The look-up here gives early, clear refusals; what settles it is `connectionGuard`, which the
/// webhook and Slack senders' requests carry: libcurl's own look-up may answer otherwise (DNS
/// rebinding), and the address it then connects to is classified again, at the socket.
public struct WebhookTargets: Sendable {
    public static let allowPrivateVariable = "TM_NOTIFY_ALLOW_PRIVATE_TARGETS"

    /// Private, loopback and link-local targets allowed (development and tests only).
    public var allowPrivate: Bool
    /// The look-up `check` classifies by (the system's; tests answer as a rebinding DNS server would).
    public var resolver: Resolver

    public init(allowPrivate: Bool = false, resolver: Resolver = .system) {
        self.allowPrivate = allowPrivate
        self.resolver = resolver
    }

    /// Host name to addresses (4 or 16 bytes each; empty when it does not resolve).
    public struct Resolver: Sendable {
        public let resolve: @Sendable (_ host: String) -> [[UInt8]]
        public init(resolve: @escaping @Sendable (_ host: String) -> [[UInt8]]) { self.resolve = resolve }
        /// `getaddrinfo`, as libcurl's own look-up (so numeric spellings read alike).
        public static let system = Resolver(resolve: WebhookTargets.resolve)
    }

    /// `TM_NOTIFY_ALLOW_PRIVATE_TARGETS`: `1`/`true` allows private targets; unset, `0` or `false` refuses them.
    public static func fromEnvironment(_ env: TMEnvironment) throws(ConfigurationError) -> WebhookTargets {
        switch env[allowPrivateVariable]?.trimmingCharacters(in: .whitespaces).lowercased() {
        case nil, "", "0", "false": return WebhookTargets(allowPrivate: false)
        case "1", "true": return WebhookTargets(allowPrivate: true)
        case let other?: throw ConfigurationError(variable: allowPrivateVariable, reason: "'\(other)' is not 1, true, 0 or false")
        }
    }

    /// A URL this policy does not let the notifier call.
    public struct Refused: Error, CustomStringConvertible, Equatable, RetryClassifying {
        public let field: String
        public let reason: String
        /// Only a look-up that failed at send time: the name may resolve later.
        public var isRetryable = false
        public var description: String { "\(field): \(reason)" }
    }

    /// Throws `Refused` naming `field` when `url` may not be called; `atSend`: the host must resolve.
    public func check(_ url: String, field: String = "address", atSend: Bool = false) throws(Refused) {
        guard !url.contains(where: { $0.isWhitespace || $0 == "\\" || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false }) else {
            throw Refused(field: field, reason: "is not a URL (it contains spaces, backslashes or control characters)")
        }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), var host = parts.host, !host.isEmpty else {
            throw Refused(field: field, reason: "is not an http(s) URL with a host")
        }
        guard scheme == "https" || scheme == "http" else { throw Refused(field: field, reason: "must be an http or https URL, not \(scheme)") }
        if allowPrivate { return }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        host = host.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        let refusal = { (what: String) in
            Refused(field: field, reason: "points to \(what) (host \(host)); webhook and Slack URLs must reach a public host "
                                          + "(\(Self.allowPrivateVariable)=1 allows private targets, for development)")
        }
        if host == "localhost" || host.hasSuffix(".localhost") { throw refusal("a loopback address") }
        if Self.metadataNames.contains(host) { throw refusal("a cloud metadata address") }
        let addresses = resolver.resolve(host)
        if atSend && addresses.isEmpty {
            throw Refused(field: field, reason: "does not resolve now (host \(host)); not sent, retried later", isRetryable: true)
        }
        for address in addresses {
            if let what = Self.classify(address) { throw refusal(what) }
        }
    }

    /// Cloud metadata services reached by name.
    static let metadataNames: Set<String> = ["metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"]

    /// What kind of non-public address `bytes` (4 or 16) is; nil for a public one. An IPv6 address
    /// that carries an IPv4 one (mapped, compatible, 6to4, NAT64) is refused for what it carries
    /// when that is not public; tunnels and translators (6to4, Teredo, NAT64) are refused anyway:
    /// their relay reaches IPv4 from wherever it sits, which may be inside the platform's network.
    static func classify(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4: return AddressRange.first(containing: bytes, in: AddressRange.ipv4)
        case 16:
            let embedded = Array(bytes[12..<16])
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                return classify(embedded)  // IPv4-mapped ::ffff:a.b.c.d
            }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) {
                if embedded == [0, 0, 0, 0] { return "the unspecified address" }
                if embedded == [0, 0, 0, 1] { return "a loopback address" }
                return classify(embedded) ?? "an IPv4-compatible address (deprecated)"  // ::a.b.c.d
            }
            if bytes[0] == 0x20 && bytes[1] == 0x02 {  // 6to4 2002:a.b.c.d::/48
                return classify(Array(bytes[2..<6])) ?? "a 6to4 address (relayed to IPv4)"
            }
            if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] {  // NAT64 64:ff9b::a.b.c.d
                return classify(embedded) ?? "a NAT64 address (translated to IPv4)"
            }
            return AddressRange.first(containing: bytes, in: AddressRange.ipv6)
        default: return "an unknown kind of address"
        }
    }

    /// The guard the notifier's HTTP requests to user-given URLs carry: the address libcurl is about
    /// to connect to — after its own look-up, which may answer differently from `check`'s (DNS
    /// rebinding) — must be public, unless private targets are allowed.
    public var connectionGuard: ConnectionGuard {
        let allowPrivate = self.allowPrivate
        return ConnectionGuard { address in
            allowPrivate ? nil : Self.classify(address).map { "points to \($0); webhook and Slack URLs must reach a public host" }
        }
    }

    /// Every address `host` resolves to (4 or 16 bytes each); empty when it does not resolve.
    static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry?.pointee {
            if let address = info.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                        addresses.append(withUnsafeBytes(of: v4.pointee.sin_addr) { Array($0) })
                    }
                case AF_INET6:
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                        addresses.append(withUnsafeBytes(of: v6.pointee.sin6_addr) { Array($0) })
                    }
                default: break
                }
            }
            entry = info.ai_next
        }
        return addresses
    }
}
