import Foundation
import Testing
import TMNotify
#if canImport(Glibc)
import Glibc
#endif

/// Every special-purpose block is refused at its first and last address, and its neighbours just
/// outside are public (or the next block's kind); numeric spellings are read as the resolver reads them.
@Suite struct TargetAddressTests {
    /// A URL with `host` (an IPv6 one in brackets) to a port nothing listens on: the check never connects.
    static func url(_ host: String) -> String { host.contains(":") ? "http://[\(host)]:9/hook" : "http://\(host):9/hook" }

    /// nil when the strict policy lets `host` through; else the refusal's reason.
    static func refusal(_ host: String) -> String? {
        do {
            try WebhookTargets().check(url(host), field: "address")
            return nil
        } catch {
            return error.reason
        }
    }

    /// (address, the kind it must be refused as — nil: public)
    static let table: [(String, String?)] = [
        // 0/8 "this network"; 0.0.0.0 unspecified
        ("0.0.0.0", "the unspecified address"), ("0.0.0.1", "'this network'"), ("0.255.255.255", "'this network'"), ("1.0.0.0", nil),
        ("9.255.255.255", nil), ("10.0.0.0", "a private address"), ("10.255.255.255", "a private address"), ("11.0.0.0", nil),
        ("100.63.255.255", nil), ("100.64.0.0", "carrier-grade NAT"), ("100.127.255.255", "carrier-grade NAT"), ("100.128.0.0", nil),
        ("100.100.100.200", "cloud metadata"),
        ("126.255.255.255", nil), ("127.0.0.0", "loopback"), ("127.255.255.255", "loopback"), ("128.0.0.0", nil),
        ("169.253.255.255", nil), ("169.254.0.0", "link-local"), ("169.254.255.255", "link-local"), ("169.255.0.0", nil),
        ("169.254.169.254", "cloud metadata"),
        ("172.15.255.255", nil), ("172.16.0.0", "a private address"), ("172.31.255.255", "a private address"), ("172.32.0.0", nil),
        ("191.255.255.255", nil), ("192.0.0.0", "reserved"), ("192.0.0.255", "reserved"), ("192.0.1.0", nil),
        ("192.0.1.255", nil), ("192.0.2.0", "documentation"), ("192.0.2.255", "documentation"), ("192.0.3.0", nil),
        ("192.88.98.255", nil), ("192.88.99.0", "reserved"), ("192.88.99.255", "reserved"), ("192.88.100.0", nil),
        ("192.167.255.255", nil), ("192.168.0.0", "a private address"), ("192.168.255.255", "a private address"), ("192.169.0.0", nil),
        ("198.17.255.255", nil), ("198.18.0.0", "benchmarking"), ("198.19.255.255", "benchmarking"), ("198.20.0.0", nil),
        ("198.51.99.255", nil), ("198.51.100.0", "documentation"), ("198.51.100.255", "documentation"), ("198.51.101.0", nil),
        ("203.0.112.255", nil), ("203.0.113.0", "documentation"), ("203.0.113.255", "documentation"), ("203.0.114.0", nil),
        ("223.255.255.255", nil), ("224.0.0.0", "multicast"), ("239.255.255.255", "multicast"), ("240.0.0.0", "reserved"),
        ("255.255.255.254", "reserved"), ("255.255.255.255", "broadcast"),
        ("93.184.216.34", nil), ("8.8.8.8", nil),
        // IPv6
        ("::", "the unspecified address"), ("::1", "loopback"), ("::2", "'this network'"),
        ("::127.0.0.1", "loopback"), ("::10.1.2.3", "a private address"), ("::93.184.216.34", "IPv4-compatible"),
        ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"), ("::ffff:10.0.0.1", "a private address"),
        ("::ffff:93.184.216.34", nil), ("::fffe:ffff:ffff", nil), ("::1:0:0:0", nil),
        ("64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", nil), ("64:ff9b::", "the unspecified address"), ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::5db8:d822", "NAT64"), ("64:ff9b::ffff:ffff", "broadcast"), ("64:ff9b::1:0:0", nil),
        ("64:ff9b:0:ffff:ffff:ffff:ffff:ffff", nil), ("64:ff9b:1::", "local NAT64"), ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local NAT64"),
        ("64:ff9b:2::", nil),
        ("ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nil), ("100::", "reserved"), ("100::ffff:ffff:ffff:ffff", "reserved"), ("100:0:0:1::", nil),
        ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nil), ("2001::", "Teredo"), ("2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "Teredo"),
        ("2001:1::5", nil),
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", nil), ("2001:db8::", "documentation"),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"), ("2001:db9::", nil),
        ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nil), ("2002:7f00:1::", "loopback"), ("2002:a00:1::1", "a private address"),
        ("2002:5db8:d822::1", "6to4"), ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "broadcast"), ("2003::", nil),
        ("2606:4700::1111", nil),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nil), ("fc00::", "a private address"), ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "a private address"),
        ("fd00:ec2::254", "cloud metadata"), ("fe00::", nil), ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", nil),
        ("fe80::", "link-local"), ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"),
        ("fec0::", "site-local"), ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"),
        ("ff00::", "multicast"), ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
    ]

    @Test func eachRangeIsRefusedInsideAndNotJustOutside() {
        for (address, kind) in Self.table {
            let reason = Self.refusal(address)
            if let kind {
                #expect(reason?.contains("points to") == true && reason?.contains(kind) == true, "\(address): \(reason ?? "allowed"), expected \(kind)")
            } else {
                #expect(reason == nil, "\(address) is public, refused: \(reason ?? "")")
            }
        }
    }

    /// The connect-time guard classifies exactly as the check does (one table, both paths).
    @Test func theConnectionGuardAgreesWithTheCheck() {
        let strict = WebhookTargets().connectionGuard
        let allowing = WebhookTargets(allowPrivate: true).connectionGuard
        for (address, kind) in Self.table {
            let bytes = Self.bytes(address)
            #expect((strict.refusal(bytes) != nil) == (kind != nil), "\(address)")
            if let kind { #expect(strict.refusal(bytes)?.contains(kind) == true, "\(address): \(strict.refusal(bytes) ?? "")") }
            #expect(allowing.refusal(bytes) == nil, "\(address)")
        }
    }

    /// Integer, octal and hex spellings of 127.0.0.1 (and of a metadata address) are refused as what they name.
    @Test(arguments: [("2130706433", "loopback"), ("0x7f.1", "loopback"), ("0177.0.0.1", "loopback"), ("127.1", "loopback"),
                      ("0x7f000001", "loopback"), ("017700000001", "loopback"), ("2852039166", "cloud metadata"),
                      ("0xa9.0xfe.0xa9.0xfe", "cloud metadata"), ("012.1", "a private address")])
    func numericSpellingsAreReadAsTheResolverReadsThem(_ host: String, _ kind: String) {
        let reason = Self.refusal(host)
        #expect(reason?.contains(kind) == true, "\(host): \(reason ?? "allowed")")
    }

    static func bytes(_ text: String) -> [UInt8] {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        precondition(inet_pton(AF_INET6, text, &v6) == 1, text)
        return withUnsafeBytes(of: &v6) { Array($0) }
    }
}
