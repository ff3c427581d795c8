import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway PostgreSQL server for tests that must stop, restart or break it.
///
/// Guarantees: each instance has its own data directory under the system temp directory and its
/// own free loopback port, kept across `stop()`/`start()`/`restart()` so a client's URL stays valid;
/// the Unix socket lives in that directory (never in /var/run). Durability is switched off
/// (`fsync=off`) because the data is thrown away. When the process runs as root the server commands
/// run as the `postgres` user (Postgres refuses root) and the directory is owned by it. Servers still
/// running when the process exits normally are stopped and deleted by an `atexit` hook.
public final class EphemeralPostgres: @unchecked Sendable {
    /// Something that went wrong, with the command's output.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let port: Int
    public let database: String
    public let user = "postgres"
    /// The temp directory: holds `data/`, the socket and `server.log`.
    public let directory: String
    public let binDirectory: String
    private let lock = NSLock()
    private var running = false
    private var destroyed = false

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE`
    public var url: String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }
    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/server.log" }
    public var isRunning: Bool { lock.withLock { running } }

    private init(port: Int, database: String, directory: String, binDirectory: String) {
        self.port = port
        self.database = database
        self.directory = directory
        self.binDirectory = binDirectory
    }

    /// Creates a cluster (initdb, trust authentication), starts it on a free loopback port and
    /// creates `database`. Takes a couple of seconds.
    public static func start(database: String = "tm_test") throws -> EphemeralPostgres {
        let bin = try findBinDirectory()
        var template = Array((NSTemporaryDirectory() + "/tm-pg-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw Failure(description: "mkdtemp failed: errno \(errno)")
        }
        let directory = URL(fileURLWithPath: String(cString: created)).standardizedFileURL.path
        var lastError: Error?
        // A port found free can be taken before the server binds it; try a few.
        for _ in 0..<3 {
            let server = EphemeralPostgres(port: try freePort(), database: database, directory: directory, binDirectory: bin)
            do {
                try server.initialise()
                try server.start()
                try server.createDatabase()
                Registry.shared.add(server)
                return server
            } catch {
                lastError = error
                try? server.stop()
                try? FileManager.default.removeItem(atPath: server.dataDirectory)
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw lastError ?? Failure(description: "could not start Postgres")
    }

    /// Starts the server again after `stop()`, on the same port and data. Waits until it accepts connections.
    public func start() throws {
        try lock.withLock {
            guard !destroyed else { throw Failure(description: "server was destroyed") }
            if running { return }
            try runServerCommand(["pg_ctl", "-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "start"])
            running = true
        }
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are terminated). The data is kept.
    public func stop() throws {
        try lock.withLock {
            guard running else { return }
            try runServerCommand(["pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "-t", "60", "stop"])
            running = false
        }
    }

    /// Stops and starts the server, keeping port and data.
    public func restart() throws {
        try stop()
        try start()
    }

    /// Stops the server (immediately) and deletes its directory. Idempotent.
    public func destroy() {
        lock.withLock {
            if destroyed { return }
            if running {
                _ = try? runServerCommand(["pg_ctl", "-D", dataDirectory, "-m", "immediate", "-w", "-t", "60", "stop"])
                running = false
            }
            destroyed = true
            try? FileManager.default.removeItem(atPath: directory)
        }
        Registry.shared.remove(self)
    }

    // MARK: Setup

    private func initialise() throws {
        if Self.isRoot {
            // The server user must own the directory; the parent temp dir is world-traversable.
            try Self.run("/bin/chown", ["-R", "postgres:postgres", directory])
        }
        try runServerCommand([
            "initdb", "-D", dataDirectory, "-A", "trust", "-U", user, "-E", "UTF8", "--no-locale", "--no-sync",
        ])
        let settings = """

            # EphemeralPostgres: loopback only, socket in the temp dir, no durability (data is thrown away).
            port = \(port)
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(directory)'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 100
            shared_buffers = 32MB
            log_min_messages = warning

            """
        let conf = dataDirectory + "/postgresql.conf"
        guard let handle = FileHandle(forWritingAtPath: conf) else {
            throw Failure(description: "cannot open \(conf) for writing")
        }
        handle.seekToEndOfFile()
        handle.write(Data(settings.utf8))
        handle.closeFile()
    }

    private func createDatabase() throws {
        guard database != "postgres" else { return }
        try Self.run(binDirectory + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", user, database])
    }

    /// Runs a server binary, as `postgres` when we are root.
    private func runServerCommand(_ arguments: [String]) throws {
        let executable = binDirectory + "/" + arguments[0]
        if Self.isRoot {
            try Self.run(Self.runuserPath(), ["-u", "postgres", "--", executable] + arguments.dropFirst())
        } else {
            try Self.run(executable, Array(arguments.dropFirst()))
        }
    }

    // MARK: Helpers

    static var isRoot: Bool { geteuid() == 0 }

    static func runuserPath() throws -> String {
        for path in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        throw Failure(description: "running as root but runuser is not installed")
    }

    /// `TM_PG_BIN`, else the newest /usr/lib/postgresql/*/bin, else the directory of `pg_ctl` on PATH.
    static func findBinDirectory() throws -> String {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["TM_PG_BIN"], fm.isExecutableFile(atPath: env + "/pg_ctl") {
            return env
        }
        if let versions = try? fm.contentsOfDirectory(atPath: "/usr/lib/postgresql") {
            for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
                let bin = "/usr/lib/postgresql/\(version)/bin"
                if fm.isExecutableFile(atPath: bin + "/pg_ctl") { return bin }
            }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if fm.isExecutableFile(atPath: "\(dir)/pg_ctl") && fm.isExecutableFile(atPath: "\(dir)/initdb") {
                return String(dir)
            }
        }
        throw Failure(description: "PostgreSQL server binaries (initdb, pg_ctl) not found; set TM_PG_BIN")
    }

    /// Asks the kernel for a free loopback port.
    static func freePort() throws -> Int { try freeLoopbackPort() }

    /// Runs a command to completion; output goes to a temp file and is included in the error when the
    /// command fails.
    ///
    /// Through `ChildProcess`, not Foundation `Process`, which never sees `pg_ctl start` exit (the
    /// daemonised postmaster keeps a descriptor `Process` watches).
    static func run(_ executable: String, _ arguments: [String]) throws {
        let outputPath = NSTemporaryDirectory() + "/tm-pg-cmd-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        // The postgres user may not be able to enter our working directory.
        let child = try ChildProcess(executable, arguments, logFile: outputPath, workingDirectory: "/")
        let code = try child.wait(timeout: .seconds(120))
        guard code == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            let how = code > 128 ? "was killed by signal \(code - 128)" : "exited \(code)"
            throw Failure(description: "\(([executable] + arguments).joined(separator: " ")) \(how): \(text)")
        }
    }

    /// Servers to clean up when the process exits.
    final class Registry: @unchecked Sendable {
        static let shared = Registry()
        private let lock = NSLock()
        private var servers: [ObjectIdentifier: EphemeralPostgres] = [:]
        private var hooked = false

        func add(_ server: EphemeralPostgres) {
            lock.withLock {
                servers[ObjectIdentifier(server)] = server
                if !hooked {
                    hooked = true
                    atexit { EphemeralPostgres.Registry.shared.destroyAll() }
                }
            }
        }

        func remove(_ server: EphemeralPostgres) {
            _ = lock.withLock { servers.removeValue(forKey: ObjectIdentifier(server)) }
        }

        func destroyAll() {
            let all = lock.withLock { Array(servers.values) }
            for server in all { server.destroy() }
        }
    }
}
