import Foundation
import TMCore
import TMFunctionRuntime

/// Keeps processes of one function for reuse, like warm Lambda containers: each reads one request
/// per line and answers with one result line.
///
/// Guarantees: a process serves one invocation at a time; it is replaced after
/// `max_invocations`, after idling `idle_timeout`, and at once if it dies, times out, answers
/// with garbage or floods its output past `max_output` (its state is suspect); `shutdown()` closes every kept process (stdin EOF, then
/// SIGTERM/SIGKILL after the grace period).
public final class WarmPool: FunctionInvoking {
    public let launch: FunctionLaunch
    private let state = Locked(State())

    private struct State {
        var idle: [WarmProcess] = []
        var spawned = 0
        var closed = false
    }

    public init(_ launch: FunctionLaunch) { self.launch = launch }

    /// Processes started so far (a test counts these to see reuse).
    public var spawned: Int { state.withLock { $0.spawned } }
    public var idleCount: Int { state.withLock { $0.idle.count } }

    public func invoke(_ request: InvocationRequest) async -> InvocationOutcome {
        reapIdle()
        let started = ContinuousClock.now
        var process: WarmProcess
        var cold = false
        if let reused = state.withLock({ $0.idle.popLast() }) {
            process = reused
        } else {
            do {
                process = try WarmProcess(launch: launch)
            } catch {
                return InvocationOutcome(kind: .spawn, reason: "\(error)", duration: ContinuousClock.now - started, cold: true)
            }
            state.withLock { $0.spawned += 1 }
            cold = true
        }
        let outcome = await process.invoke(request, cold: cold, started: started)
        let keep = (outcome.kind == .ok || outcome.kind == .partial || outcome.kind == .error) && outcome.droppedLogBytes == 0
        if keep, process.invocations < launch.manifest.maxInvocationsPerProcess, process.isAlive {
            let returned = state.withLock { state -> Bool in
                guard !state.closed else { return false }
                state.idle.append(process)
                return true
            }
            if !returned { await process.close(grace: launch.manifest.killGrace) }
        } else {
            await process.close(grace: launch.manifest.killGrace)
        }
        return outcome
    }

    /// Idle processes are closed on time even when no invocation comes (a quiet night).
    public func maintain() { reapIdle() }

    /// Closes processes idle longer than the idle timeout.
    func reapIdle() {
        let limit = launch.manifest.idleTimeout
        let stale = state.withLock { state -> [WarmProcess] in
            let (old, fresh) = (state.idle.filter { $0.idleFor >= limit }, state.idle.filter { $0.idleFor < limit })
            state.idle = fresh
            return old
        }
        for process in stale { Task { await process.close(grace: launch.manifest.killGrace) } }
    }

    public func shutdown() async {
        let all = state.withLock { state -> [WarmProcess] in
            state.closed = true
            defer { state.idle.removeAll() }
            return state.idle
        }
        for process in all { await process.close(grace: launch.manifest.killGrace) }
    }
}

/// One long-lived function process and the thread that talks to it.
final class WarmProcess: @unchecked Sendable {
    private let launch: FunctionLaunch
    private let process: Subprocess
    private let thread: BlockingThread
    private let counters = Locked((invocations: 0, lastUsed: ContinuousClock.now))
    private var stderrCarry: [UInt8] = []  // touched only on `thread`
    private var readBuffer: [UInt8] = []  // touched only on `thread`: one per process, not per invocation

    init(launch: FunctionLaunch) throws {
        self.launch = launch
        process = try Subprocess(launch.executablePath, [], environment: launch.environment(for: nil, warm: true),
                                 stdin: .pipe, stdout: .pipe, stderr: .pipe)
        thread = BlockingThread(name: "warm-\(launch.manifest.name)")
    }

    var invocations: Int { counters.current.invocations }
    var idleFor: Duration { ContinuousClock.now - counters.current.lastUsed }
    var isAlive: Bool { process.isRunning }

    func invoke(_ request: InvocationRequest, cold: Bool, started: ContinuousClock.Instant) async -> InvocationOutcome {
        let result = try? await thread.run { [self] in invokeBlocking(request, cold: cold, started: started) }
        counters.withLock { $0 = (invocations: $0.invocations + 1, lastUsed: .now) }
        return result ?? InvocationOutcome(kind: .spawn, reason: "warm process thread stopped", duration: .zero, cold: cold)
    }

    private func invokeBlocking(_ request: InvocationRequest, cold: Bool, started: ContinuousClock.Instant) -> InvocationOutcome {
        let logs = launch.logs(for: request)
        guard let line = try? request.encodedLine() else {
            return InvocationOutcome(kind: .spawn, reason: "request could not be encoded", duration: .zero, cold: cold)
        }
        let exchange = launch.exchange(with: process, deadline: started + launch.manifest.timeout, logs: logs)
        let result = exchange.run(input: line, completion: .line, stderrCarry: &stderrCarry, readBuffer: &readBuffer)
        var status: Subprocess.ExitStatus?
        if result.endOfStream || result.timedOut || result.overflowed {
            // It died, or is being killed: reap it (bounded) so the outcome can say how it ended.
            status = process.wait(timeout: launch.manifest.killGrace + .seconds(1)) ?? process.terminate(grace: .zero)
        }
        return launch.outcome(stdout: result.stdout, exchange: result, status: result.timedOut ? nil : status,
                              started: started, cold: cold, logs: logs)
    }

    /// Closes stdin (a warm function exits at EOF), then SIGTERM/SIGKILL if it lingers.
    func close(grace: Duration) async {
        _ = try? await thread.run { [self] in
            process.closePipe(process.stdinFD)
            if process.wait(timeout: .milliseconds(500)) == nil { process.terminate(grace: grace) }
        }
        thread.shutdown()
    }
}
