import Foundation

/// A 128-bit digest of a stored row's bytes (`analytics.digest`, a `uuid`): how a recompute tells
/// an unchanged row from a changed one without reading the row back (ReportWriter).
///
/// MurmurHash3 x64-128 over the bytes: not cryptographic (nobody gains by colliding their own
/// analytics), but 128 bits, so two different rows of a user sharing a digest by accident is out
/// of reach (≈ 2⁻¹²⁸ a pair); several GB/s, so digesting every row costs a fraction of writing it.
struct RowDigest: Hashable, Sendable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ bytes: UnsafeRawBufferPointer) {
        let c1: UInt64 = 0x87c3_7b91_1142_53d5, c2: UInt64 = 0x4cf5_ad43_2745_937f
        var h1: UInt64 = 0x5bd1_e995_9e37_79b9, h2: UInt64 = 0x7f4a_7c15_c2b2_ae3d
        let count = bytes.count
        var i = 0
        while i + 16 <= count {
            var k1 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            var k2 = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
            k1 = Self.rotl(k1 &* c1, 31) &* c2
            h1 ^= k1
            h1 = (Self.rotl(h1, 27) &+ h2) &* 5 &+ 0x52dc_e729
            k2 = Self.rotl(k2 &* c2, 33) &* c1
            h2 ^= k2
            h2 = (Self.rotl(h2, 31) &+ h1) &* 5 &+ 0x3849_5ab5
            i += 16
        }
        var k1: UInt64 = 0, k2: UInt64 = 0
        var shift: UInt64 = 0
        while i < count {
            if shift < 64 { k1 |= UInt64(bytes[i]) << shift } else { k2 |= UInt64(bytes[i]) << (shift - 64) }
            shift += 8
            i += 1
        }
        if shift > 64 { h2 ^= Self.rotl(k2 &* c2, 33) &* c1 }
        if shift > 0 { h1 ^= Self.rotl(k1 &* c1, 31) &* c2 }
        h1 ^= UInt64(count)
        h2 ^= UInt64(count)
        h1 = h1 &+ h2
        h2 = h2 &+ h1
        h1 = Self.finalMix(h1)
        h2 = Self.finalMix(h2)
        h1 = h1 &+ h2
        h2 = h2 &+ h1
        high = h1
        low = h2
    }

    init(_ bytes: ArraySlice<UInt8>) {
        self = bytes.withUnsafeBytes { RowDigest($0) }
    }

    /// The 16 bytes of a binary-format `uuid` (as `appendUUIDText` writes them: `high` then `low`, big-endian).
    init?(uuidBytes: UnsafeRawBufferPointer) {
        guard uuidBytes.count == 16 else { return nil }
        high = UInt64(bigEndian: uuidBytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        low = UInt64(bigEndian: uuidBytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// As `uuid` text (8-4-4-4-12 lowercase hex digits).
    func appendUUIDText(to out: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        let hex = UnsafeBufferPointer(start: digits.utf8Start, count: 16)
        for position in 0..<32 {
            if position == 8 || position == 12 || position == 16 || position == 20 { out.append(UInt8(ascii: "-")) }
            let word = position < 16 ? high : low
            out.append(hex[Int((word >> UInt64(60 - 4 * (position % 16))) & 15)])
        }
    }

    private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    private static func finalMix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k = k &* 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k = k &* 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }
}
