import Foundation
import TMCore

/// A process started for a test, with a clean signal state and no inherited descriptors.
///
/// Not Foundation `Process`, for two reasons seen on Linux: a child spawned from a Swift thread
/// inherits that thread's blocked-signal mask (so `redis-server` never sees SIGTERM), and
/// `Process` notices a child's exit through a descriptor the child inherits (so a daemonising
/// child "never exits"). Here the mask is emptied, signal dispositions are reset, and every
/// descriptor above stderr is closed in the child.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let command: String
    private let status = Locked<Int32?>(nil)
    /// The read end of the child's stdout when `captureOutput` was set.
    public let output: FileHandle?

    /// Starts `executable`; stderr (and stdout unless captured) go to `logFile` or /dev/null.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                captureOutput: Bool = false, logFile: String? = nil, workingDirectory: String? = nil) throws {
        command = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let sink = logFile ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 2, sink, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        var pipeFDs: [Int32] = [-1, -1]
        if captureOutput {
            guard pipe(&pipeFDs) == 0 else { throw POSIXError(.EMFILE) }
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        if let closeFrom = SpawnExtras.closeFrom { _ = closeFrom(&actions, 3) }
        if let directory = workingDirectory, let chdir = SpawnExtras.chdir { _ = chdir(&actions, directory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in env { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, env)
        if captureOutput { close(pipeFDs[1]) }
        guard spawned == 0 else {
            if captureOutput { close(pipeFDs[0]) }
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot run \(executable): error \(spawned)"])
        }
        self.pid = pid
        output = captureOutput ? FileHandle(fileDescriptor: pipeFDs[0], closeOnDealloc: true) : nil
    }

    deinit {
        if isRunning { kill() }
    }

    /// Whether the child is still running (reaps it once it has exited).
    public var isRunning: Bool { poll() == nil }

    /// The raw wait status once the child has exited, nil while it runs.
    private func poll() -> Int32? {
        status.withLock { stored in
            if let stored { return stored }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { stored = raw }
            return stored
        }
    }

    /// Waits for the child to exit (bounded) and returns its exit code (128 + signal when killed).
    @discardableResult
    public func wait(timeout: Duration = .seconds(30)) throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let raw = poll() {
                return (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            }
            guard ContinuousClock.now < deadline else { throw POSIXError(.ETIMEDOUT) }
            usleep(5_000)
        }
    }

    public func signal(_ signal: Int32) {
        if isRunning { Glibc.kill(pid, signal) }
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

    /// glibc extensions to posix_spawn, found with dlsym (its headers hide them from Swift).
    enum SpawnExtras {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
            .map { unsafeBitCast($0, to: CloseFrom.self) }
        static let chdir: ChangeDirectory? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
            .map { unsafeBitCast($0, to: ChangeDirectory.self) }
    }
}

extension ChildProcess {
    /// SIGSTOP: the process is frozen (no heartbeats, no progress), like a long GC pause or a VM stall.
    public func pause() { signal(SIGSTOP) }

    /// SIGCONT: the frozen process carries on as if nothing happened.
    public func resume() { signal(SIGCONT) }
}
