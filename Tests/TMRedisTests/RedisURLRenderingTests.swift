import Foundation
import Testing
import TestSupport
import TMRedis

/// `RedisConfiguration.url`: what a process hands its children as `TM_REDIS_URL` parses back to
/// the same server, database, credentials and timeouts, a Unix socket (and its TCP address) included.
@Suite struct RedisURLRenderingTests {
    private func expectSame(_ a: RedisConfiguration, _ b: RedisConfiguration) {
        #expect(a.socketPath == b.socketPath)
        #expect(a.host == b.host && a.port == b.port && a.database == b.database)
        #expect(a.username == b.username && a.password == b.password)
        #expect(a.connectTimeout == b.connectTimeout && a.commandTimeout == b.commandTimeout)
    }

    @Test func aSocketIsHandedOnWithItsTCPAddress() throws {
        let configuration = RedisConfiguration(host: "127.0.0.1", port: 6536, socketPath: "/work/wt x/.tm/test/redis/redis.sock", database: 10)
        #expect(configuration.url == "unix:///work/wt%20x/.tm/test/redis/redis.sock?db=10&host=127.0.0.1&port=6536")
        expectSame(try RedisConfiguration(url: configuration.url), configuration)
    }

    @Test func aTCPAddressAndEveryOptionSurviveTheRoundTrip() throws {
        let tcp = RedisConfiguration(host: "10.0.0.5", port: 6380, username: "app:1", password: "p@ss:w/rd?&",
                                     database: 9, connectTimeout: .milliseconds(250), commandTimeout: .milliseconds(1500))
        expectSame(try RedisConfiguration(url: tcp.url), tcp)
        #expect(RedisConfiguration(port: 6536, database: 11).url == "redis://127.0.0.1:6536/11")
        let ipv6 = RedisConfiguration(host: "::1", port: 6379)
        expectSame(try RedisConfiguration(url: ipv6.url), ipv6)
        let socketWithPassword = RedisConfiguration(port: 7000, socketPath: "/tmp/r.sock", password: "s3cr&t", database: 2)
        expectSame(try RedisConfiguration(url: socketWithPassword.url), socketWithPassword)
    }

    /// The test servers' own address rendered and parsed again reaches the same server.
    @Test func theRenderedTestServerURLConnects() async throws {
        let configuration = try RedisConfiguration(url: try TestServers.redisURL)
        let client = try await RedisClient(configuration: try RedisConfiguration(url: configuration.url))
        #expect(try await client.send("PING") == .simple("PONG"))
        // Over the socket when the URL names one: the server sees this client on it.
        if let socketPath = configuration.socketPath {
            #expect("\(try await client.send("CLIENT", "INFO"))".contains("laddr=\(socketPath)"))
        }
    }
}
