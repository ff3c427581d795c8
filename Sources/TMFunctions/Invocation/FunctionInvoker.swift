import Foundation
import TMCore
import TMFunctionRuntime

/// Runs invocations of one function and reports how each ended. The dispatcher, `tm invoke` and
/// the benchmarks all go through it, so a function behaves the same however it is invoked.
public protocol FunctionInvoking: Sendable {
    func invoke(_ request: InvocationRequest) async -> InvocationOutcome
    /// Stops any processes kept for reuse.
    func shutdown() async
    /// Housekeeping the dispatcher runs every second (a warm pool closes processes idle too long).
    func maintain()
}

extension FunctionInvoking {
    public func maintain() {}
}

/// Where a function's executable is and what it is started with.
public struct FunctionLaunch: Sendable {
    public var manifest: FunctionManifest
    public var executablePath: String
    /// The dispatcher's environment (its resolved configuration included), of which a function
    /// gets only the allow-listed part and its declared secrets (`FunctionEnvironment`).
    public var baseEnvironment: [String: String]
    /// Re-emit the function's stderr lines on ours (off in tests that only look at records).
    public var forwardLogs = true

    public init(manifest: FunctionManifest, executablePath: String, baseEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.manifest = manifest
        self.executablePath = executablePath
        self.baseEnvironment = baseEnvironment
    }

    /// Finds `manifest.executable`: in `TM_FUNCTIONS_BIN`, else next to the running executable
    /// (SwiftPM puts every product of the package in one folder), else on PATH.
    public static func locate(_ manifest: FunctionManifest, environment: TMEnvironment = .current()) throws -> FunctionLaunch {
        var candidates: [String] = []
        if let bin = environment["TM_FUNCTIONS_BIN"] { candidates.append(bin) }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path)
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in candidates {
            let path = (directory as NSString).appendingPathComponent(manifest.executable)
            if FileManager.default.isExecutableFile(atPath: path) {
                // The function sees the configuration the dispatcher resolved (.tm/env included).
                let base = ProcessInfo.processInfo.environment.merging(environment.values) { _, resolved in resolved }
                return FunctionLaunch(manifest: manifest, executablePath: path, baseEnvironment: base)
            }
        }
        throw ConfigurationError(
            variable: "TM_FUNCTIONS_BIN",
            reason: "no executable '\(manifest.executable)' for function \(manifest.name) (looked in \(candidates.prefix(2).joined(separator: ", ")) and PATH); build it with `swift build`")
    }

    func environment(for request: InvocationRequest?, warm: Bool) -> [String: String] {
        var env = FunctionEnvironment.build(base: baseEnvironment, manifest: manifest)
        if warm { env["TM_WARM"] = "1" }
        if let request {
            env["TM_INVOCATION_ID"] = request.invocationID
            env["TM_DEADLINE_MS"] = String(request.deadlineMillis)
            env["TM_ATTEMPT"] = String(request.attempt)
        }
        return env
    }

    func logs(for request: InvocationRequest) -> FunctionLogs {
        FunctionLogs(function: manifest.name, invocationID: request.invocationID, forward: forwardLogs, limit: manifest.maxOutput)
    }

    func exchange(with process: Subprocess, deadline: ContinuousClock.Instant, logs: FunctionLogs) -> ProcessExchange {
        ProcessExchange(process: process, deadline: deadline, grace: manifest.killGrace, maxOutput: manifest.maxOutput, onStderrLine: logs.line)
    }

    /// Judges what the process left behind: the result it printed, or why the attempt failed.
    func outcome(stdout: [UInt8], exchange: ProcessExchange.Outcome, status: Subprocess.ExitStatus?,
                 started: ContinuousClock.Instant, cold: Bool, logs: FunctionLogs) -> InvocationOutcome {
        let duration = ContinuousClock.now - started
        func failed(_ kind: InvocationOutcome.Kind, _ reason: String) -> InvocationOutcome {
            InvocationOutcome(kind: kind, reason: reason, duration: duration, cold: cold, logTail: logs.text, droppedLogBytes: logs.droppedBytes)
        }
        // Before the exit status: an overflowing child was stopped by us, it did not crash.
        if exchange.overflowed { return failed(.garbage, "output over \(ByteSizeText.format(manifest.maxOutput))") }
        if exchange.timedOut {
            let how = exchange.killed ? "SIGTERM, then SIGKILL after \(DurationText.format(manifest.killGrace))" : "stopped by SIGTERM"
            return failed(.timeout, "no result within \(DurationText.format(manifest.timeout)) (\(how))")
        }
        if let status, status != .exited(0) {
            if case .signaled = status { return failed(.crash, status.description) }
            return failed(.exit, status.description)
        }
        do {
            let result = try InvocationResult.parse(stdout)
            let kind: InvocationOutcome.Kind = result.status == .ok ? .ok : result.status == .partial ? .partial : .error
            return InvocationOutcome(kind: kind, result: result, reason: result.error, duration: duration, cold: cold, logTail: logs.text,
                                     droppedLogBytes: logs.droppedBytes)
        } catch {
            if exchange.endOfStream, status == nil { return failed(.crash, "the process closed its output and did not answer") }
            return failed(.garbage, error.reason)
        }
    }
}

/// A new process per invocation: the request on stdin, the result on stdout, then exit.
public final class ColdInvoker: FunctionInvoking {
    public let launch: FunctionLaunch
    private let spawnCount = Locked(0)

    public init(_ launch: FunctionLaunch) { self.launch = launch }

    /// Processes started so far.
    public var spawned: Int { spawnCount.current }

    public func invoke(_ request: InvocationRequest) async -> InvocationOutcome {
        await withCheckedContinuation { continuation in
            // One short-lived thread per invocation: the exchange blocks in poll(), off Swift's pool.
            let thread = Thread { continuation.resume(returning: self.invokeBlocking(request)) }
            thread.stackSize = 512 * 1024
            thread.start()
        }
    }

    func invokeBlocking(_ request: InvocationRequest) -> InvocationOutcome {
        let started = ContinuousClock.now
        let logs = launch.logs(for: request)
        let input: [UInt8]
        do { input = try request.encodedLine() } catch {
            return InvocationOutcome(kind: .spawn, reason: "request could not be encoded: \(error)", duration: .zero, cold: true)
        }
        let process: Subprocess
        do {
            process = try Subprocess(launch.executablePath, [], environment: launch.environment(for: request, warm: false),
                                     stdin: .pipe, stdout: .pipe, stderr: .pipe)
        } catch {
            return InvocationOutcome(kind: .spawn, reason: "\(error)", duration: ContinuousClock.now - started, cold: true)
        }
        spawnCount.withLock { $0 += 1 }
        let deadline = started + launch.manifest.timeout
        let exchange = launch.exchange(with: process, deadline: deadline, logs: logs)
        var carry: [UInt8] = []
        var result = exchange.run(input: input, completion: .endOfStream, stderrCarry: &carry)
        // Output closed: the process is exiting. Wait for it, still bounded by the deadline.
        var status = process.wait(timeout: max(deadline - .now, .milliseconds(50)))
        if status == nil {
            result.timedOut = true
            status = process.terminate(grace: launch.manifest.killGrace)
            result.killed = status == .signaled(SIGKILL)
        }
        return launch.outcome(stdout: result.stdout, exchange: result, status: result.timedOut ? nil : status,
                              started: started, cold: true, logs: logs)
    }

    public func shutdown() async {}
}
