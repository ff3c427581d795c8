import Foundation
import Testing
import TestSupport
import TMFunctionRuntime
import TMFunctions

/// The invocation protocol end to end with a real process: results, partial failures, and every
/// way an attempt can fail (timeout, crash, non-zero exit, garbage), cold and warm.
@Suite(.timeLimit(.minutes(3))) struct InvokerTests {
    let harness = TestFunctionHarness()

    @Test func aColdInvocationEchoesEachRecordAndExits() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest()))
        let outcome = await invoker.invoke(harness.request([#"{"mode":"echo","n":1}"#, #"{"mode":"echo","n":2}"#]))
        #expect(outcome.kind == .ok)
        #expect(outcome.cold)
        #expect(outcome.result?.results == ["m1": #"{"mode":"echo","n":1}"#, "m2": #"{"mode":"echo","n":2}"#])
        #expect(outcome.logTail.contains("\"msg\":\"echo\""), "stderr is kept with the invocation")
        #expect(harness.spawns == 1)
    }

    @Test func thePartialBatchResponseNamesOnlyTheFailedRecords() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest()))
        let outcome = await invoker.invoke(harness.request([
            #"{"mode":"echo"}"#, #"{"mode":"fail","fail_until_attempt":1}"#, #"{"mode":"reject"}"#,
        ]))
        #expect(outcome.kind == .partial)
        #expect(outcome.failure(of: "m1") == nil)
        #expect(outcome.failure(of: "m2")?.error == "failing on purpose (attempt 1)")
        #expect(outcome.failure(of: "m2")?.retryable == true)
        #expect(outcome.failure(of: "m3")?.error == "amount: must be positive")
        #expect(outcome.failure(of: "m3")?.retryable == false, "bad input is not retried")
    }

    @Test func pastItsTimeoutAFunctionGetsSIGTERMAndTheAttemptIsATimeout() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest { $0.timeout = .milliseconds(700) }))
        let started = ContinuousClock.now
        let outcome = await invoker.invoke(harness.request([#"{"mode":"sleep","sleep_ms":30000}"#]))
        let took = ContinuousClock.now - started
        #expect(outcome.kind == .timeout)
        #expect(outcome.reason?.contains("no result within 700ms") == true)
        #expect(took >= .milliseconds(700))
        #expect(took < .seconds(10), "killed, not waited for")
        #expect(outcome.failure(of: "m1")?.error.hasPrefix("timeout:") == true)
    }

    @Test func aFunctionIgnoringSIGTERMIsKilledAfterTheGracePeriod() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest {
            $0.timeout = .milliseconds(500)
            $0.killGrace = .milliseconds(300)
            $0.environment["TEST_IGNORE_SIGTERM"] = "1"
        }))
        let outcome = await invoker.invoke(harness.request([#"{"mode":"sleep","sleep_ms":30000}"#]))
        #expect(outcome.kind == .timeout)
        #expect(outcome.reason?.contains("SIGKILL") == true)
    }

    @Test func aCrashANonZeroExitAndGarbageAreFailuresWithTheirReason() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest()))
        let crash = await invoker.invoke(harness.request([#"{"mode":"crash"}"#]))
        #expect(crash.kind == .crash)
        #expect(crash.reason?.hasPrefix("killed by signal") == true)
        #expect(crash.logTail.contains("crashing on purpose"), "the backtrace is kept with the invocation")

        let exit = await invoker.invoke(harness.request([#"{"mode":"exit"}"#]))
        #expect(exit.kind == .exit)
        #expect(exit.reason == "exit status 3")

        let garbage = await invoker.invoke(harness.request([#"{"mode":"garbage"}"#]))
        #expect(garbage.kind == .garbage)
        #expect(garbage.reason == "stdout is not a result: 'hello, this is not a result'")
        #expect(garbage.failure(of: "m1")?.retryable == true)
    }

    @Test func aStrayPrintGoesToTheLogsNotIntoTheResult() async throws {
        defer { harness.cleanUp() }
        let cold = await ColdInvoker(harness.launch(harness.manifest())).invoke(harness.request([#"{"mode":"print"}"#]))
        #expect(cold.kind == .ok, "\(cold.reason ?? "")")
        #expect(cold.logTail.contains("a stray print from the function"))
        let pool = WarmPool(harness.launch(harness.manifest { $0.warm = true }))
        for _ in 0..<3 { #expect(await pool.invoke(harness.request([#"{"mode":"print"}"#])).kind == .ok) }
        await pool.shutdown()
    }

    @Test func theEnvironmentCarriesTheInvocation() async throws {
        defer { harness.cleanUp() }
        let invoker = ColdInvoker(harness.launch(harness.manifest("env-check") { $0.environment["TEST_MODE"] = "environment" }))
        let request = harness.request([#"{}"#], attempt: 3, function: "env-check")
        let outcome = await invoker.invoke(request)
        let seen = try #require(outcome.result?.results?["m1"])
        let fields = try JSONSerialization.jsonObject(with: Data(seen.utf8)) as? [String: String]
        #expect(fields?["TM_INVOCATION_ID"] == request.invocationID)
        #expect(fields?["TM_FUNCTION"] == "env-check")
        #expect(fields?["TM_ATTEMPT"] == "3")
        #expect(fields?["TM_DEADLINE_MS"] == String(request.deadlineMillis))
    }

    @Test func aWarmPoolReusesOneProcessUntilItsMaxInvocations() async throws {
        defer { harness.cleanUp() }
        let pool = WarmPool(harness.launch(harness.manifest { $0.warm = true; $0.maxInvocationsPerProcess = 4 }))
        for i in 1...10 {
            let outcome = await pool.invoke(harness.request([#"{"mode":"echo","i":\#(i)}"#]))
            #expect(outcome.kind == .ok)
            #expect(outcome.cold == ([1, 5, 9].contains(i)), "invocation \(i)")
        }
        await pool.shutdown()
        #expect(pool.spawned == 3)
        #expect(harness.spawns == 3)
        #expect(harness.invocations == 10)
    }

    @Test func aWarmProcessThatDiesOrTimesOutIsReplaced() async throws {
        defer { harness.cleanUp() }
        // A crash is judged with time to spare: a crashing Swift process may spend seconds in its
        // backtracer on a loaded machine, and that must not read as a timeout.
        let crashing = WarmPool(harness.launch(harness.manifest { $0.warm = true; $0.timeout = .seconds(60) }))
        #expect(await crashing.invoke(harness.request([#"{"mode":"echo"}"#])).kind == .ok)
        let crash = await crashing.invoke(harness.request([#"{"mode":"crash"}"#]))
        #expect(crash.kind == .crash, "\(crash.reason ?? "")")
        #expect(await crashing.invoke(harness.request([#"{"mode":"echo"}"#])).kind == .ok)
        await crashing.shutdown()
        #expect(crashing.spawned == 2, "one at first, one after the crash")

        // The timeout is far below the sleep and far above a cold start.
        let hanging = WarmPool(harness.launch(harness.manifest { $0.warm = true; $0.timeout = .seconds(4) }))
        #expect(await hanging.invoke(harness.request([#"{"mode":"echo"}"#])).kind == .ok)
        let timeout = await hanging.invoke(harness.request([#"{"mode":"sleep","sleep_ms":60000}"#]))
        #expect(timeout.kind == .timeout)
        let after = await hanging.invoke(harness.request([#"{"mode":"echo"}"#]))
        #expect(after.kind == .ok)
        #expect(after.cold)
        await hanging.shutdown()
        #expect(hanging.spawned == 2, "one at first, one after the timeout")
    }

    @Test func aWarmProcessIdleTooLongIsRecycled() async throws {
        defer { harness.cleanUp() }
        // Idle limit well above the gap between two back-to-back invocations on a loaded machine.
        let pool = WarmPool(harness.launch(harness.manifest { $0.warm = true; $0.idleTimeout = .seconds(3) }))
        #expect(await pool.invoke(harness.request([#"{"mode":"echo"}"#])).cold)
        #expect(await pool.invoke(harness.request([#"{"mode":"echo"}"#])).cold == false)
        try await Task.sleep(for: .milliseconds(3300))
        #expect(await pool.invoke(harness.request([#"{"mode":"echo"}"#])).cold, "the idle process was closed")
        await pool.shutdown()
        #expect(pool.spawned == 2)
    }

    @Test func aMissingExecutableIsASpawnFailure() async throws {
        var launch = harness.launch(harness.manifest())
        launch.executablePath = "/nonexistent/fn"
        let outcome = await ColdInvoker(launch).invoke(harness.request(["{}"]))
        #expect(outcome.kind == .spawn)
        #expect(outcome.reason?.contains("cannot run /nonexistent/fn") == true)
    }
}
