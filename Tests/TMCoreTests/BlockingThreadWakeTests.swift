import Foundation
import Testing
@testable import TMCore

/// `BlockingThread` signals its thread only when it sleeps, and after releasing the queue's lock: a
/// job submitted to a sleeping thread still wakes it, and jobs from many concurrent submitters (some
/// arriving while the thread is awake, some while it sleeps) all run, once each, on the one thread.
@Suite(.timeLimit(.minutes(1))) struct BlockingThreadWakeTests {
    @Test func aSleepingThreadIsWokenByTheNextJob() async throws {
        let thread = BlockingThread(name: "wake-sleeper")
        defer { thread.shutdown() }
        for round in 0..<5 {
            while !thread.isSleeping { try await Task.sleep(for: .milliseconds(1)) }
            #expect(try await thread.run { round * 10 } == round * 10)
        }
    }

    @Test func concurrentSubmittersEachGetTheirOwnResultOrErrorOnTheOneThread() async throws {
        struct Odd: Error, Equatable { let value: Int }
        let thread = BlockingThread(name: "wake-many")
        defer { thread.shutdown() }
        let threadIDs = Locked<Set<UInt>>([])
        let outcomes = await withTaskGroup(of: (Int, Result<Int, Odd>).self) { group in
            for i in 0..<300 {
                group.addTask {
                    // Some submitters find the thread busy, some asleep.
                    if i % 10 == 0 { try? await Task.sleep(for: .milliseconds(1)) }
                    do {
                        let value = try await thread.run { () throws -> Int in
                            threadIDs.withLock { _ = $0.insert(UInt(pthread_self())) }
                            if i % 3 == 0 { throw Odd(value: i) }
                            return i * 2
                        }
                        return (i, .success(value))
                    } catch {
                        return (i, .failure(error as! Odd))
                    }
                }
            }
            var all: [Int: Result<Int, Odd>] = [:]
            for await (i, outcome) in group { all[i] = outcome }
            return all
        }
        #expect(outcomes.count == 300)
        for (i, outcome) in outcomes {
            #expect(outcome == (i % 3 == 0 ? .failure(Odd(value: i)) : .success(i * 2)))
        }
        #expect(threadIDs.current.count == 1)
    }
}
