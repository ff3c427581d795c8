import Testing
import TMCore

@Suite struct LeastBusyTests {
    /// A burst spreads over every lane before any lane takes a second job; a released lane is
    /// the next one picked.
    @Test func jobsGoToTheLeastBusyLaneAndAReleasedLaneIsPickedNext() {
        let busy = LeastBusy(lanes: 3)
        #expect([busy.acquire(), busy.acquire(), busy.acquire()] == [0, 1, 2])
        #expect(busy.acquire() == 0)
        busy.release(2)
        #expect(busy.acquire() == 2)
        busy.release(1)
        busy.release(0)
        #expect(busy.acquire() == 1)
    }
}
