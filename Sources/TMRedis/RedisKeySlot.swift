/// The Redis Cluster hash slot of a key, as the cluster specification defines it: CRC16 (XMODEM)
/// of the key — or of its hash tag, the text between the first `{` and the next `}` when that is
/// not empty — modulo 16384.
///
/// Guarantees: agrees with `CLUSTER KEYSLOT` for every key (pinned by a test against a real
/// cluster node), so commands grouped by this slot can each go to the one node owning it.
public enum RedisKeySlot {
    public static let count = 16384

    public static func slot(of key: String) -> Int {
        var key = key
        return key.withUTF8 { slot(of: UnsafeRawBufferPointer($0)) }
    }

    public static func slot(of key: RedisArgument) -> Int { key.withUnsafeBytes { slot(of: $0) } }

    public static func slot(of key: [UInt8]) -> Int { key.withUnsafeBytes { slot(of: $0) } }

    /// The slot of the key's bytes, read in place.
    public static func slot(of key: UnsafeRawBufferPointer) -> Int {
        var hashed = key[...]
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
           let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            hashed = key[(open + 1)..<close]
        }
        var crc: UInt16 = 0
        for byte in hashed { crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)] }
        return Int(crc) % count
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
