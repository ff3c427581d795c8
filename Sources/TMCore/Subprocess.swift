import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, with a clean signal state and no inherited
/// descriptors, and optional pipes to its stdin, stdout and stderr.
///
/// Not Foundation `Process`, for two reasons seen on Linux: a child spawned from a Swift thread
/// inherits that thread's blocked-signal mask (so it would never see the SIGTERM a timeout or a
/// shutdown sends), and `Process` notices an exit through a descriptor the child inherits (so a
/// daemonising child "never exits"). Here the mask is emptied, dispositions are reset, and every
/// descriptor above stderr is closed in the child.
///
/// Guarantees: the parent's pipe ends are close-on-exec, so a later child never holds them open;
/// the child is reaped exactly once (`exitStatus` caches it); `deinit` closes the pipe ends but does
/// not kill the child — the owner decides its fate.
public final class Subprocess: @unchecked Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        case null
        /// A pipe whose other end the parent reads or writes.
        case pipe
        /// Appended to a file (created if missing).
        case file(String)
        /// The child's stdout goes wherever its stderr goes.
        case sameAsStderr
    }

    /// How the child ended.
    public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        init(raw: Int32) {
            self = (raw & 0x7f) == 0 ? .exited((raw >> 8) & 0xff) : .signaled(raw & 0x7f)
        }

        /// The shell's convention: the exit code, or 128 + the signal.
        public var code: Int32 {
            switch self {
            case .exited(let code): return code
            case .signaled(let signal): return 128 + signal
            }
        }

        public var description: String {
            switch self {
            case .exited(let code): return "exit status \(code)"
            case .signaled(let signal): return "killed by signal \(signal) (\(Subprocess.signalName(signal)))"
            }
        }
    }

    public let pid: pid_t
    public let command: String
    /// The parent's ends of the pipes (-1 when that stream is not a pipe).
    public let stdinFD: Int32
    public let stdoutFD: Int32
    public let stderrFD: Int32
    private let status = Locked<ExitStatus?>(nil)
    private let openFDs = Locked<Set<Int32>>([])

    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .sameAsStderr, stderr: Stream = .null, workingDirectory: String? = nil
    ) throws {
        command = ([executable] + arguments).joined(separator: " ")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEnds: [Int32] = []
        var parentEnds: [Int32: Int32] = [:]  // child fd -> parent end
        func cleanUp() {
            for fd in childEnds { close(fd) }
            for fd in parentEnds.values { close(fd) }
        }
        for (fd, stream) in [(Int32(0), stdin), (2, stderr), (1, stdout)] {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, fd, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .sameAsStderr:
                posix_spawn_file_actions_adddup2(&actions, 2, fd)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                // closefrom(3) in the child covers the window before FD_CLOEXEC is set.
                guard pipe(&ends) == 0 else {
                    cleanUp()
                    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EMFILE)
                }
                for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
                let (childEnd, parentEnd) = fd == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                childEnds.append(childEnd)
                parentEnds[fd] = parentEnd
                posix_spawn_file_actions_adddup2(&actions, childEnd, fd)
            }
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
        for fd in childEnds { close(fd) }
        guard spawned == 0 else {
            for fd in parentEnds.values { close(fd) }
            throw SpawnError(executable: executable, code: spawned)
        }
        self.pid = pid
        stdinFD = parentEnds[0] ?? -1
        stdoutFD = parentEnds[1] ?? -1
        stderrFD = parentEnds[2] ?? -1
        openFDs.withLock { $0 = Set(parentEnds.values) }
    }

    deinit {
        for fd in openFDs.current { close(fd) }
    }

    /// The child could not be started (missing file, not executable, ...).
    public struct SpawnError: Error, CustomStringConvertible {
        public let executable: String
        public let code: Int32
        public var description: String { "cannot run \(executable): \(String(cString: strerror(code)))" }
    }

    /// Closes the parent's end of one pipe (closing stdin tells the child there is no more input).
    public func closePipe(_ fd: Int32) {
        let wasOpen = openFDs.withLock { $0.remove(fd) != nil }
        if wasOpen { close(fd) }
    }

    /// How the child ended, or nil while it runs (reaps it once it has exited).
    public var exitStatus: ExitStatus? {
        status.withLock { stored in
            if let stored { return stored }
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid { stored = ExitStatus(raw: raw) }
            return stored
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    /// Waits (bounded, polling) for the child to exit. The first polls are 50 µs apart, growing to
    /// 2 ms: a child that is about to exit (its output just closed) is reaped at once, which is most
    /// of a cold function invocation's tail.
    public func wait(timeout: Duration) -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        var pause: UInt32 = 50
        while true {
            if let status = exitStatus { return status }
            guard ContinuousClock.now < deadline else { return nil }
            usleep(pause)
            pause = min(pause * 2, 2_000)
        }
    }

    public func signal(_ signal: Int32) {
        if isRunning { _ = kill(pid, signal) }
    }

    /// SIGTERM, then SIGKILL if the child is still running after `grace`; reaps it.
    @discardableResult
    public func terminate(grace: Duration) -> ExitStatus? {
        signal(SIGTERM)
        if let status = wait(timeout: grace) { return status }
        signal(SIGKILL)
        return wait(timeout: .seconds(10))
    }

    public static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGILL: return "SIGILL"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGINT: return "SIGINT"
        case SIGPIPE: return "SIGPIPE"
        case SIGTRAP: return "SIGTRAP"
        default: return "signal \(signal)"
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
