import Foundation
import Testing
@testable import TMCore

/// A `BlockingThread`'s OS thread carries its name (what `top -H`, perf and `/proc/<pid>/task/*/comm`
/// show): whole when it fits the OS's 15 bytes, its start and end kept when it does not.
@Suite(.timeLimit(.minutes(1))) struct BlockingThreadNameTests {
    private func osName(of thread: BlockingThread) async throws -> String {
        try await thread.run {
            ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func theOSThreadCarriesTheName() async throws {
        let thread = BlockingThread(name: "broker-lanes-12")
        defer { thread.shutdown() }
        #expect(try await osName(of: thread) == "broker-lanes-12")
    }

    @Test func aLongNameKeepsItsStartAndItsEnd() async throws {
        let thread = BlockingThread(name: "warm-analytics-batch-3")
        defer { thread.shutdown() }
        #expect(try await osName(of: thread) == "warm-an~batch-3")
    }

    @Test func aLongNameIsCutBetweenCharacters() async throws {
        let thread = BlockingThread(name: "wärme-analyse-prüfung-7")
        defer { thread.shutdown() }
        // "wärme-" is 7 bytes; the end drops "ü" (2 bytes) whole rather than keep half of it.
        #expect(try await osName(of: thread) == "wärme-~fung-7")
    }
}
