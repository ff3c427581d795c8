import Foundation
import Testing
@testable import TMCore

/// `HopStamps` (order-bench's lone-order split): off, a `BlockingThread` job records nothing; on, each
/// job records the task's submit, the thread's start and end, and the task's resumption, in that order,
/// named by the thread — for a job that throws as for one that returns.
@Suite(.serialized, .timeLimit(.minutes(1))) struct LoneOrderStampsTests {
    struct Failed: Error {}

    @Test func offRecordsNothing() async throws {
        HopStamps.record(false)
        let thread = BlockingThread(name: "stamps-off")
        defer { thread.shutdown() }
        #expect(try await thread.run { 7 } == 7)
        #expect(HopStamps.take().filter { $0.thread == "stamps-off" }.isEmpty)
    }

    @Test func onRecordsEachHopOfAJobInOrder() async throws {
        HopStamps.record(true)
        defer { HopStamps.record(false) }
        let thread = BlockingThread(name: "stamps-on")
        defer { thread.shutdown() }
        #expect(try await thread.run { () -> Int in
            HopStamps.stamp(.mark("inside"), "stamps-on")
            return 7
        } == 7)
        await #expect(throws: Failed.self) { try await thread.run { () throws -> Int in throw Failed() } }
        let stamps = HopStamps.take().filter { $0.thread == "stamps-on" }
        #expect(stamps.map(\.event) == [.submit, .start, .mark("inside"), .end, .resumed, .submit, .start, .end, .resumed])
        #expect(zip(stamps, stamps.dropFirst()).allSatisfy { $0.nanos <= $1.nanos })
    }
}
