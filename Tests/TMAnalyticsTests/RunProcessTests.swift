import Foundation
import Testing
import TestSupport
import TMAnalytics
import TMCore
import TMQueue

/// The run as it is deployed: `tm analytics recompute --wait` starts a manual run, `tm dispatch`
/// runs the warm `analytics-batch` executable (two at once) on the chunks, one of them is killed
/// (SIGKILL, the test-only fault hook of Functions/analytics-batch) after recording its first
/// batch; the chunk is redelivered and resumes, and every user is recomputed exactly once.
@Suite(.serialized, .timeLimit(.minutes(3))) struct RunProcessTests {
    @Test func aWorkerKilledMidChunkResumesWithoutRecomputingFinishedUsers() async throws {
        let f = try await RunFixture(users: 10)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("analytics-run"))
        defer { try? FileManager.default.removeItem(at: root) }
        let marker = root.appendingPathComponent("crashed").path
        let environment = try RunCLITests.environment(f, root: root, extra: [
            "ANALYTICS_BATCH_CRASH_ONCE": marker, "ANALYTICS_BATCH_CRASH_AFTER_USERS": "2",
        ])
        let dispatcher = try ChildProcess(RunCLITests.tm, ["dispatch"], environment: environment, logFile: root.appendingPathComponent("dispatch.log").path)
        defer { dispatcher.terminate(grace: .seconds(10)) }

        let recompute = try await runProcess(RunCLITests.tm, ["analytics", "recompute", "--wait"], environment: environment)
        let log = (try? String(contentsOfFile: root.appendingPathComponent("dispatch.log").path, encoding: .utf8)) ?? ""
        #expect(recompute.status == 0, "\(recompute.output)\n--- dispatch.log\n\(log.suffix(4000))")
        #expect(recompute.output.contains("started (manual): 10 user(s) in 3 chunk(s)"))
        #expect(recompute.output.contains("users: 10 / 10 done (100.0%); chunks: 3 / 3"), "\(recompute.output)")
        #expect(FileManager.default.fileExists(atPath: marker), "a worker was killed mid-run")
        let run: UUID = try await f.pool.query("SELECT id FROM analytics_runs").rows[0].decode("id")
        let recomputations = try await f.recomputations(run)
        #expect(recomputations.count == 10 && recomputations.values.allSatisfy { $0 == 1 },
                "killed between batches: nobody recomputed twice: \(recomputations.values.sorted())")
        #expect(try await f.run(run).state == .done)
        await f.cleanUp()
    }
}
