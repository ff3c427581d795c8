import Histogram

/// Latencies of one benchmark run in an HdrHistogram (microsecond resolution, 3 significant
/// digits, up to 60 s), so p99.9 of a few thousand samples is read the standard way rather than
/// from a hand-rolled sort.
public struct LatencyHistogram: Sendable {
    private var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)

    public init() {}

    public init<S: Sequence>(millis samples: S) where S.Element == Double {
        for sample in samples { record(millis: sample) }
    }

    public var count: Int { Int(histogram.totalCount) }

    /// Records one latency in milliseconds (negative clock noise counts as zero).
    public mutating func record(millis: Double) {
        _ = histogram.record(UInt64(max(0, (millis * 1000).rounded())))
    }

    /// The latency at `percentile` (e.g. 99.9), in milliseconds.
    public func millis(atPercentile percentile: Double) -> Double {
        Double(histogram.valueAtPercentile(percentile)) / 1000
    }

    public var maxMillis: Double { Double(histogram.max) / 1000 }

    /// p50, p90, p99, p99.9 and max, in milliseconds, under the keys the reports use.
    public var figures: [String: Double] {
        ["p50": millis(atPercentile: 50), "p90": millis(atPercentile: 90), "p99": millis(atPercentile: 99),
         "p999": millis(atPercentile: 99.9), "max": maxMillis]
    }
}
