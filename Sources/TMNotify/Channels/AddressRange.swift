/// One special-purpose block of addresses (IANA's IPv4 and IPv6 special-purpose registries and
/// their neighbours) and what `WebhookTargets` calls an address in it.
struct AddressRange: Sendable {
    let prefix: [UInt8]
    let bits: Int
    let kind: String

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == prefix.count else { return false }
        var remaining = bits
        for (byte, wanted) in zip(address, prefix) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xFF : ~(0xFF >> UInt8(remaining))
            if byte & mask != wanted & mask { return false }
            remaining -= 8
        }
        return true
    }

    /// The kind of the first range in `ranges` (most specific first) holding `address`, else nil.
    static func first(containing address: [UInt8], in ranges: [AddressRange]) -> String? {
        ranges.first { $0.contains(address) }?.kind
    }

    static let loopback = "a loopback address", privateNetwork = "a private address", linkLocal = "a link-local address"
    static let metadata = "a cloud metadata address", reserved = "a reserved address", documentation = "a documentation address"
    static let multicast = "a multicast address"

    /// IPv4, most specific first.
    static let ipv4: [AddressRange] = [
        AddressRange(prefix: [169, 254, 169, 254], bits: 32, kind: metadata),
        AddressRange(prefix: [100, 100, 100, 200], bits: 32, kind: metadata),  // Alibaba Cloud
        AddressRange(prefix: [255, 255, 255, 255], bits: 32, kind: "the broadcast address"),
        AddressRange(prefix: [0, 0, 0, 0], bits: 32, kind: "the unspecified address"),
        AddressRange(prefix: [0, 0, 0, 0], bits: 8, kind: "a 'this network' address"),  // 0/8; 0.0.0.0 reaches this host
        AddressRange(prefix: [10, 0, 0, 0], bits: 8, kind: privateNetwork),
        AddressRange(prefix: [100, 64, 0, 0], bits: 10, kind: "a carrier-grade NAT address"),
        AddressRange(prefix: [127, 0, 0, 0], bits: 8, kind: loopback),
        AddressRange(prefix: [169, 254, 0, 0], bits: 16, kind: linkLocal),
        AddressRange(prefix: [172, 16, 0, 0], bits: 12, kind: privateNetwork),
        AddressRange(prefix: [192, 0, 0, 0], bits: 24, kind: reserved),  // IETF protocol assignments
        AddressRange(prefix: [192, 0, 2, 0], bits: 24, kind: documentation),
        AddressRange(prefix: [192, 88, 99, 0], bits: 24, kind: reserved),  // 6to4 relay anycast
        AddressRange(prefix: [192, 168, 0, 0], bits: 16, kind: privateNetwork),
        AddressRange(prefix: [198, 18, 0, 0], bits: 15, kind: "a benchmarking address"),
        AddressRange(prefix: [198, 51, 100, 0], bits: 24, kind: documentation),
        AddressRange(prefix: [203, 0, 113, 0], bits: 24, kind: documentation),
        AddressRange(prefix: [224, 0, 0, 0], bits: 4, kind: multicast),
        AddressRange(prefix: [240, 0, 0, 0], bits: 4, kind: reserved),
    ]

    /// IPv6 blocks that carry no IPv4 address (those are read in `WebhookTargets.classify`), most specific first.
    static let ipv6: [AddressRange] = [
        AddressRange(prefix: [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54], bits: 128, kind: metadata),  // AWS fd00:ec2::254
        AddressRange(prefix: [0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01] + zeros(10), bits: 48, kind: "a local NAT64 address"),  // 64:ff9b:1::/48
        AddressRange(prefix: [0x01, 0x00] + zeros(14), bits: 64, kind: reserved),  // discard-only 100::/64
        AddressRange(prefix: [0x20, 0x01, 0x0D, 0xB8] + zeros(12), bits: 32, kind: documentation),
        AddressRange(prefix: [0x20, 0x01, 0x00, 0x00] + zeros(12), bits: 32, kind: "a Teredo address (relayed to IPv4)"),
        AddressRange(prefix: [0xFC] + zeros(15), bits: 7, kind: privateNetwork),  // unique-local
        AddressRange(prefix: [0xFE, 0x80] + zeros(14), bits: 10, kind: linkLocal),
        AddressRange(prefix: [0xFE, 0xC0] + zeros(14), bits: 10, kind: "a site-local address"),
        AddressRange(prefix: [0xFF] + zeros(15), bits: 8, kind: multicast),
    ]

    private static func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
}
