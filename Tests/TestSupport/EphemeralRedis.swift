import Foundation
import TMCore

/// A throwaway `redis-server` on a free loopback port with AOF on, for tests that stop, restart or
/// shut down Redis without disturbing other tests.
///
/// Guarantees: `restart()` keeps the port and the data directory, so clients can reconnect to the
/// same address and find what was persisted; `destroy()` stops the server and removes its files.
public final class EphemeralRedis: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    /// A one-node Redis Cluster owning every slot: Redis itself then refuses (CROSSSLOT) any
    /// command or script whose keys span hash slots.
    public let cluster: Bool
    /// The cluster bus port, chosen free like `port` (the default, port + 10000, may be taken or
    /// past 65535).
    private let busPort: Int
    private var process: ChildProcess?

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public static func start(cluster: Bool = false) throws -> EphemeralRedis {
        let redis = try EphemeralRedis(cluster: cluster)
        try redis.startServer()
        return redis
    }

    private init(cluster: Bool) throws {
        self.cluster = cluster
        port = try freeLoopbackPort()
        var bus = cluster ? try freeLoopbackPort() : 0
        while cluster && bus == port { bus = try freeLoopbackPort() }
        busPort = bus
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tm-redis-\(port)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { destroy() }

    /// Starts the server (again) on the same port and data directory, and waits until it answers.
    public func startServer() throws {
        process = try ChildProcess(try Self.redisServerPath(), [
            "--bind", "127.0.0.1", "--port", String(port), "--dir", directory.path,
            "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--enable-debug-command", "local",
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + (cluster ? ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", String(busPort)] : []))
        try waitUntil(answering: true)
        if cluster { try assignEverySlot() }
    }

    /// Gives this node all 16384 slots (once; the assignment is kept in nodes.conf) and waits
    /// until the cluster reports itself ok.
    private func assignEverySlot() throws {
        let cli = try Self.redisServerPath().replacingOccurrences(of: "redis-server", with: "redis-cli")
        // A fresh master waits about 2 s before it reports ok.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let info = try runProcess(cli, ["-p", String(port), "CLUSTER", "INFO"]).output
            if info.contains("cluster_state:ok") { return }
            if info.contains("cluster_slots_assigned:0") {
                _ = try runProcess(cli, ["-p", String(port), "CLUSTER", "ADDSLOTSRANGE", "0", "16383"])
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw POSIXError(.ETIMEDOUT)
    }

    /// Kills the server at once (SIGKILL): no chance to persist anything beyond what AOF already has.
    public func kill() {
        process?.kill()
        process = nil
    }

    /// Stops the server gracefully (SIGTERM), waiting for it to exit.
    public func stop() {
        process?.terminate()
        process = nil
    }

    public func restart() throws {
        stop()
        try startServer()
    }

    public func destroy() {
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Waits until the server is reachable (after a start) or no longer reachable (after a shutdown).
    public func waitUntil(answering: Bool, timeout: Duration = .seconds(10)) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if Self.answers(port: port) == answering { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw POSIXError(.ETIMEDOUT)
    }

    private static func answers(port: Int) -> Bool {
        guard let fd = try? LoopbackSocket.connect(port: UInt16(port)) else { return false }
        defer { close(fd) }
        let ping = "PING\r\n"
        _ = ping.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 16)
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 && buffer.starts(with: Array("+PONG".utf8))
    }

    private static func redisServerPath() throws -> String {
        for candidate in ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "redis-server not found: run scripts/install-deps.sh"])
    }
}
