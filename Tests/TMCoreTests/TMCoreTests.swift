import Foundation
import Testing
import TMCore

@Suite struct EnvironmentTests {
    @Test func processEnvironmentOverridesTheFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tm-env-\(UUID().uuidString)")
        try """
        # comment
        TM_REDIS_URL=redis://127.0.0.1:6479/0
        export TM_DATABASE_URL="postgres://postgres@127.0.0.1:5479/tm"
        TM_SECRET_KEY='abc='
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let env = TMEnvironment(process: ["TM_REDIS_URL": "redis://elsewhere:1/0", "HOME": "/root"], envFile: file.path)
        #expect(env["TM_REDIS_URL"] == "redis://elsewhere:1/0")
        #expect(env.sources["TM_REDIS_URL"] == .environment)
        #expect(env["TM_DATABASE_URL"] == "postgres://postgres@127.0.0.1:5479/tm")
        #expect(env.sources["TM_DATABASE_URL"] == .file(file.path))
        #expect(env["TM_SECRET_KEY"] == "abc=")
        #expect(env["HOME"] == nil)
    }

    @Test func aMissingFileIsNotAnError() {
        let env = TMEnvironment(process: [:], envFile: "/nonexistent/.tm/env")
        #expect(env.envFile == nil)
        #expect(env.values.isEmpty)
    }
}

@Suite struct BlockingThreadTests {
    @Test func runsJobsInOrderOnOneThread() async throws {
        let thread = BlockingThread(name: "test")
        defer { thread.shutdown() }
        let caller = UInt(pthread_self())
        var threads: Set<UInt> = []
        var order: [Int] = []
        for i in 0..<10 {
            threads.insert(try await thread.run { UInt(pthread_self()) })
            order.append(try await thread.run { i })
        }
        #expect(threads.count == 1)
        #expect(!threads.contains(caller))
        #expect(order == Array(0..<10))
    }

    @Test func propagatesErrorsAndRefusesWorkAfterShutdown() async throws {
        struct Boom: Error {}
        let thread = BlockingThread(name: "t2")
        await #expect(throws: Boom.self) { try await thread.run { throw Boom() } }
        #expect(try thread.runAndWait { 41 + 1 } == 42)
        thread.shutdown()
        await #expect(throws: BlockingThread.Stopped.self) { try await thread.run { 1 } }
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [("250ms", 250), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("2d", 172_800_000), ("1.5s", 1500)])
    func parses(_ text: String, _ millis: Int64) throws {
        #expect(try DurationText.parse(text).milliseconds == millis)
    }

    @Test(arguments: ["", "30", "5x", "-1s", "s"])
    func rejectsWithTheText(_ text: String) {
        #expect(throws: DurationText.ParseError.self) { try DurationText.parse(text) }
    }

    @Test func formatsShortest() {
        #expect(DurationText.format(.seconds(90)) == "1m30s")
        #expect(DurationText.format(.milliseconds(1500)) == "1.5s")
        #expect(DurationText.format(.milliseconds(250)) == "250ms")
        #expect(DurationText.format(.seconds(86_400 * 14)) == "14d")
    }
}
