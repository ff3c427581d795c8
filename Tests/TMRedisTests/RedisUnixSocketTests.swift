import Foundation
import Testing
import TestSupport
import TMRedis

/// `unix://` URLs (what `scripts/tm-servers.sh` writes for the local profiles): connections go
/// through the socket, in the URL's database, and the URL's `host`/`port` only name the same
/// server's TCP address for code that rebuilds a `redis://` URL.
@Suite struct RedisUnixSocketTests {
    @Test func aUnixURLKeepsItsTCPAddressApart() throws {
        let config = try RedisConfiguration(url: "unix:///tmp/tm/redis.sock?db=3&host=10.1.2.3&port=6533")
        #expect(config.socketPath == "/tmp/tm/redis.sock")
        #expect(config.database == 3 && config.host == "10.1.2.3" && config.port == 6533)
        #expect(config.description == "unix:///tmp/tm/redis.sock?db=3")

        func reason(_ url: String) -> String {
            do { _ = try RedisConfiguration(url: url); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason("unix:///tmp/tm/redis.sock?port=70000").contains("port=70000"))
        #expect(reason("unix:///tmp/tm/redis.sock?host=").contains("host"))
        // A TCP URL has its address in the authority: the options are unknown there.
        #expect(reason("redis://127.0.0.1:6379/0?host=10.1.2.3").contains("unknown option 'host'"))
    }

    /// A private server listening on a socket only (port 0): the client reaches it, in the URL's
    /// database, although the URL's TCP address leads nowhere.
    @Test func connectionsGoThroughTheSocket() async throws {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("tm-rsock-\(getpid())-\(UInt16.random(in: 0...UInt16.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("redis.sock").path
        let server = try ChildProcess(try Self.executable("redis-server"), [
            "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--dir", directory.path,
            "--save", "", "--appendonly", "no", "--logfile", directory.appendingPathComponent("redis.log").path,
        ])
        defer { server.terminate(grace: .seconds(5)) }
        let cli = try Self.executable("redis-cli")
        try await eventually("the socket answers") { try await runProcess(cli, ["-s", socket, "PING"]).output.contains("PONG") }

        let redis = try RedisConnection(configuration: RedisConfiguration(url: "unix://\(socket)?db=2&host=127.0.0.1&port=1"))
        defer { redis.close() }
        try redis.send("SET", "unix-key", "through the socket")
        let info = try #require(try redis.send("CLIENT", "INFO").string)
        #expect(info.contains("addr=\(socket)"))
        #expect(info.contains("db=2"))
        #expect(try await runProcess(cli, ["-s", socket, "-n", "2", "GET", "unix-key"]).output.contains("through the socket"))
    }

    private static func executable(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw POSIXError(.ENOENT)
    }
}
