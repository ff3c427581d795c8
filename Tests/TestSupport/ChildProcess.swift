import Foundation
import TMCore

/// A process started for a test, with a clean signal state and no inherited descriptors
/// (see `Subprocess` for why not Foundation `Process`).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let command: String
    private let process: Subprocess
    /// The read end of the child's stdout when `captureOutput` was set.
    public let output: FileHandle?

    /// Starts `executable`; stderr (and stdout unless captured) go to `logFile` or /dev/null.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                captureOutput: Bool = false, logFile: String? = nil, workingDirectory: String? = nil) throws {
        process = try Subprocess(
            executable, arguments, environment: environment, stdin: .null,
            stdout: captureOutput ? .pipe : .sameAsStderr, stderr: logFile.map { .file($0) } ?? .null,
            workingDirectory: workingDirectory)
        pid = process.pid
        command = process.command
        ChildProcess.register(pid)
        output = captureOutput ? FileHandle(fileDescriptor: dup(process.stdoutFD), closeOnDealloc: true) : nil
        if captureOutput { process.closePipe(process.stdoutFD) }
    }

    deinit {
        if isRunning { kill() }
        ChildProcess.unregister(pid)
    }

    // A test that fails or forgets its clean-up must not leave servers, workers or schedulers running
    // after the test process ends (they would load the machine and skew later runs): every child
    // still registered is SIGKILLed when the process exits.
    private static let running = Locked<Set<pid_t>>([])
    private static let killAtExit: Void = { atexit { for pid in ChildProcess.running.current { Glibc.kill(pid, SIGKILL) } } }()

    private static func register(_ pid: pid_t) {
        _ = killAtExit
        running.withLock { _ = $0.insert(pid) }
    }

    private static func unregister(_ pid: pid_t) { running.withLock { _ = $0.remove(pid) } }

    /// Whether the child is still running (reaps it once it has exited).
    public var isRunning: Bool { process.isRunning }

    /// Waits for the child to exit (bounded) and returns its exit code (128 + signal when killed).
    @discardableResult
    public func wait(timeout: Duration = .seconds(30)) throws -> Int32 {
        guard let status = process.wait(timeout: timeout) else { throw POSIXError(.ETIMEDOUT) }
        ChildProcess.unregister(pid)
        return status.code
    }

    public func signal(_ signal: Int32) {
        process.signal(signal)
    }

    /// SIGKILL and reap: what a crash or an OOM kill looks like.
    public func kill() {
        signal(SIGKILL)
        _ = try? wait()
    }

    /// SIGTERM and wait for a graceful exit; SIGKILL if it takes longer than `grace`.
    public func terminate(grace: Duration = .seconds(15)) {
        signal(SIGTERM)
        if (try? wait(timeout: grace)) == nil { kill() }
    }

    /// Reads stdout (bounded) until a line containing `marker` appears.
    public func waitForOutput(_ marker: String, timeout: Duration = .seconds(30)) throws {
        guard let output else { return }
        let deadline = ContinuousClock.now + timeout
        var seen = ""
        var pfd = pollfd(fd: output.fileDescriptor, events: Int16(POLLIN), revents: 0)
        while !seen.contains(marker) {
            guard ContinuousClock.now < deadline else { throw POSIXError(.ETIMEDOUT) }
            guard Glibc.poll(&pfd, 1, 100) >= 0 else { continue }
            if pfd.revents != 0 {
                let chunk = output.availableData
                if chunk.isEmpty { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "\(command) exited before printing '\(marker)'"]) }
                seen += String(decoding: chunk, as: UTF8.self)
            }
        }
    }
}

extension ChildProcess {
    /// SIGSTOP: the process is frozen (no heartbeats, no progress), like a long GC pause or a VM stall.
    public func pause() { signal(SIGSTOP) }

    /// SIGCONT: the frozen process carries on as if nothing happened.
    public func resume() { signal(SIGCONT) }
}
