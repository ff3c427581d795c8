// analytics-batch: wires AnalyticsBatchFunction (Sources/TMAnalytics/Run) to the invocation protocol:
// nightly/manual run starts from fn:analytics-batch, chunks of runs from the analytics queue.
import Foundation
import TMAnalytics
import TMCore
import TMFunctionRuntime

/// Test-only fault: with ANALYTICS_BATCH_CRASH_ONCE=<marker file> and ANALYTICS_BATCH_CRASH_AFTER_USERS=<n>
/// (set only by Tests/TMAnalyticsTests/RunProcessTests through a test manifest's `environment:`), the
/// first process to record n users creates the marker and SIGKILLs itself: a crash mid-run. Unset
/// (always, in production) nothing is hooked.
let process = ProcessInfo.processInfo.environment
let crashHook: (@Sendable (Int) async -> Void)? = {
    guard let marker = process["ANALYTICS_BATCH_CRASH_ONCE"], let after = process["ANALYTICS_BATCH_CRASH_AFTER_USERS"].flatMap(Int.init) else { return nil }
    return { recorded in
        guard recorded >= after, FileManager.default.createFile(atPath: marker + ".tmp", contents: nil),
              (try? FileManager.default.moveItem(atPath: marker + ".tmp", toPath: marker)) != nil else { return }
        kill(getpid(), SIGKILL)
    }
}()

let function = try await AnalyticsBatchServices.open(afterBatch: crashHook)
await FunctionMain.run(function)
