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
    private var pinned: [InstrumentKey: Decimal] = [:]
    /// What `price` derived per instrument (its symbol hash, and each of the 401 moves' price), so a
    /// price costs a look-up instead of a hash of the symbol and a Decimal division (~20 µs).
    private var memo: [InstrumentKey: Memo] = [:]

    private struct InstrumentKey: Hashable {
        let broker: Broker
        let symbol: String
        init(_ instrument: Instrument) { (broker, symbol) = (instrument.broker, instrument.symbol) }
    }

    private struct Memo {
        let hash: UInt64
        /// The inputs the prices were derived from; another instrument of the same name starts afresh.
        let basePrice: Decimal
        let tickSize: Decimal
        var prices: [Decimal?] = Array(repeating: nil, count: 401)
    }

    public init(seed: UInt64, bucketMilliseconds: Int64 = 1000) {
        self.seed = seed
        self.bucketMilliseconds = max(1, bucketMilliseconds)
    }

    public mutating func price(of instrument: Instrument, at time: Date) -> Decimal {
        let key = InstrumentKey(instrument)
        if let fixed = pinned[key] { return fixed }
        if memo[key].map({ $0.basePrice != instrument.basePrice || $0.tickSize != instrument.tickSize }) ?? true {
            memo[key] = Memo(hash: symbolHash(instrument), basePrice: instrument.basePrice, tickSize: instrument.tickSize)
        }
        let bucket = Int64((time.timeIntervalSince1970 * 1000).rounded(.down)) / bucketMilliseconds
        let hash = SplitMix64.mix(memo[key]!.hash ^ UInt64(bitPattern: bucket))
        // A move of -200...+200 basis points: exact decimal arithmetic, no Double.
        let basisPoints = Int(hash % 401) - 200
        if let known = memo[key]!.prices[basisPoints + 200] { return known }
        let raw = instrument.basePrice * Decimal(10_000 + basisPoints) / 10_000
        let price = max(instrument.tickSize, raw.roundedToMultiple(of: instrument.tickSize))
        memo[key]!.prices[basisPoints + 200] = price
        return price
    }

    private func symbolHash(_ instrument: Instrument) -> UInt64 {
        var hash = seed ^ 0x9E37_79B9_7F4A_7C15
        for byte in "\(instrument.broker.rawValue):\(instrument.symbol)".utf8 { hash = SplitMix64.mix(hash ^ UInt64(byte)) }
        return hash
    }

    public mutating func pin(_ instrument: Instrument, at price: Decimal) { pinned[InstrumentKey(instrument)] = price }
    public mutating func unpinAll() { pinned.removeAll() }
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
