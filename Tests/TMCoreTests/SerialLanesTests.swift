import Foundation
import Testing
import TestSupport
import TMCore

/// `SerialLanes`: one key's work runs one at a time in admission order; other keys run beside it.
@Suite struct SerialLanesTests {
    @Test func workOfOneKeyWaitsForTheEarlierWhileOtherKeysRun() async throws {
        let lanes = SerialLanes()
        let first = lanes.admit("account-a"), second = lanes.admit("account-a"), other = lanes.admit("account-b")
        let log = Locked<[String]>([])
        let (gate, open) = AsyncStream<Void>.makeStream()
        async let a1: Void = lanes.run(first) {
            log.withLock { $0.append("a1 start") }
            for await _ in gate { break }
            log.withLock { $0.append("a1 end") }
        }
        async let a2: Void = lanes.run(second) { log.withLock { $0.append("a2") } }
        async let b1: Void = lanes.run(other) { log.withLock { $0.append("b1") } }
        // account-b is not held up by account-a's blocked work.
        try await eventually("b1 to run while a1 is blocked") { log.withLock { $0.contains("b1") && $0.contains("a1 start") } }
        #expect(!log.withLock { $0.contains("a2") })
        open.yield(())
        _ = await (a1, a2, b1)
        let order = log.withLock { $0 }
        #expect(order.firstIndex(of: "a1 end")! < order.firstIndex(of: "a2")!)
        #expect(lanes.activeKeys == 0)
    }

    @Test func aThrowingTurnStillPassesTheTurnOn() async throws {
        struct Boom: Error {}
        let lanes = SerialLanes()
        let first = lanes.admit("k"), second = lanes.admit("k")
        await #expect(throws: Boom.self) { try await lanes.run(first) { throw Boom() } }
        #expect(await lanes.run(second) { "ran" } == "ran")
        #expect(lanes.activeKeys == 0)
    }
}
