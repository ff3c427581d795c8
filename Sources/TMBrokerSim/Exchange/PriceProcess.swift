import Foundation

/// The simulator's market: a deterministic price per instrument and time bucket, with prices a test
/// can pin.
///
/// Guarantees: the same seed, symbol and bucket always give the same price (no hidden randomness);
/// prices stay within ±2% of the instrument's base price and on its tick grid; a pinned price
/// replaces the process for that instrument until unpinned.
public struct PriceProcess: Sendable {
    public let seed: UInt64
    /// Length of one price bucket.
    public let bucketMilliseconds: Int64
    private var pinned: [String: Decimal] = [:]

    public init(seed: UInt64, bucketMilliseconds: Int64 = 1000) {
        self.seed = seed
        self.bucketMilliseconds = max(1, bucketMilliseconds)
    }

    public func price(of instrument: Instrument, at time: Date) -> Decimal {
        if let fixed = pinned[Self.key(instrument)] { return fixed }
        let bucket = Int64((time.timeIntervalSince1970 * 1000).rounded(.down)) / bucketMilliseconds
        var hash = seed ^ 0x9E37_79B9_7F4A_7C15
        for byte in "\(instrument.broker.rawValue):\(instrument.symbol)".utf8 { hash = SplitMix64.mix(hash ^ UInt64(byte)) }
        hash = SplitMix64.mix(hash ^ UInt64(bitPattern: bucket))
        // A move of -200...+200 basis points: exact decimal arithmetic, no Double.
        let basisPoints = Int(hash % 401) - 200
        let raw = instrument.basePrice * Decimal(10_000 + basisPoints) / 10_000
        return max(instrument.tickSize, raw.roundedToMultiple(of: instrument.tickSize))
    }

    public mutating func pin(_ instrument: Instrument, at price: Decimal) { pinned[Self.key(instrument)] = price }
    public mutating func unpinAll() { pinned.removeAll() }

    private static func key(_ instrument: Instrument) -> String { "\(instrument.broker.rawValue):\(instrument.symbol)" }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed deterministic generator.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
