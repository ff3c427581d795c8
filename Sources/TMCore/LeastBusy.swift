/// Spreads jobs over a fixed set of lanes (threads that each run one job at a time): `acquire` picks
/// the lane with the fewest jobs in flight and counts the job until `release`.
///
/// Guarantees: counts change under one lock, so concurrent callers see each other's jobs and a
/// burst spreads evenly; ties go to the lowest index.
public final class LeastBusy: Sendable {
    private let inFlight: Locked<[Int]>

    /// `lanes` lanes, none busy (at least one).
    public init(lanes: Int) { inFlight = Locked([Int](repeating: 0, count: max(1, lanes))) }

    /// The index of the least busy lane, counted busy by one more job.
    public func acquire() -> Int {
        inFlight.withLock { counts in
            var best = 0
            for index in counts.indices where counts[index] < counts[best] { best = index }
            counts[best] += 1
            return best
        }
    }

    /// The job on lane `index` is done.
    public func release(_ index: Int) {
        inFlight.withLock { $0[index] -= 1 }
    }
}
