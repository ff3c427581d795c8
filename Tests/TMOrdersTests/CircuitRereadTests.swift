import Testing
@testable import TMOrders

/// The worker's 250 ms `refresh` reads the circuits only every other time: at most ~500 ms stale
/// (`CircuitWatch`'s documented staleness), half the breaker reads (`ResidentState.circuitsDue`).
struct CircuitRereadTests {
    @Test func everyOtherRefreshReadsTheCircuits() {
        let start = ContinuousClock.now
        #expect(ResidentState.circuitsDue(lastRead: nil, now: start))
        // The next refresh (250 ms, or a little late) skips; the one after (500 ms, or a little early) reads.
        #expect(!ResidentState.circuitsDue(lastRead: start, now: start + .milliseconds(250)))
        #expect(!ResidentState.circuitsDue(lastRead: start, now: start + .milliseconds(300)))
        #expect(ResidentState.circuitsDue(lastRead: start, now: start + .milliseconds(450)))
        #expect(ResidentState.circuitsDue(lastRead: start, now: start + .milliseconds(500)))
    }
}
