import Foundation
import Testing
import TestSupport
import TMRedis

/// The Redis wrapper against the harness's real Redis; tests use keys unique to themselves.
@Suite struct RedisClientTests {
    func connect() throws -> RedisConnection {
        try RedisConnection(configuration: RedisConfiguration(url: try TestServers.redisURL))
    }

    @Test func pipelinedRepliesComeBackInOrder() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("pipe")
        defer { _ = try? redis.send("DEL", key, key + ":list") }
        var commands: [RedisCommand] = []
        for i in 0..<1000 {
            commands.append(RedisCommand("INCR", key))
            commands.append(RedisCommand("RPUSH", key + ":list", "item-\(i)"))
        }
        commands.append(RedisCommand("LRANGE", key + ":list", 0, -1))
        let replies = try redis.pipeline(commands).map { try $0.get() }
        #expect(replies.count == 2001)
        for i in 0..<1000 {
            #expect(replies[2 * i] == .integer(Int64(i + 1)))
            #expect(replies[2 * i + 1] == .integer(Int64(i + 1)))
        }
        let list = try #require(replies.last?.array)
        #expect(list.map { $0.string } == (0..<1000).map { "item-\($0)" })
    }

    @Test func binaryValuesWithNULBytesRoundTrip() throws {
        let redis = try connect()
        let key: [UInt8] = Array(TestServers.uniqueName("bin").utf8) + [0, 1, 0]
        defer { _ = try? redis.send(RedisCommand("DEL", key)) }
        let value: [UInt8] = (0...255).map(UInt8.init) + [0, 0] + Array("tail".utf8)
        try redis.send(RedisCommand("SET", key, value))
        #expect(try redis.send(RedisCommand("GET", key)) == .bulk(value))
        #expect(try redis.send(RedisCommand("STRLEN", key)) == .integer(Int64(value.count)))
        // An empty string is a value, not a missing one.
        try redis.send(RedisCommand("SET", key, [UInt8]()))
        #expect(try redis.send(RedisCommand("GET", key)) == .bulk([]))
        #expect(try redis.send("GET", TestServers.uniqueName("missing")) == .null)
    }

    @Test func errorRepliesAreThrown() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("err")
        defer { _ = try? redis.send("DEL", key) }
        try redis.send("SET", key, "not a number")
        #expect(throws: RedisError.self) { try redis.send("INCR", key) }
        do {
            try redis.send("LPUSH", key, "x")
            Issue.record("LPUSH on a string must fail")
        } catch let error as RedisError {
            #expect(error.serverCode == "WRONGTYPE")
        }
        // In a pipeline, the failing command's result is an error and the others are unaffected.
        let results = try redis.pipeline([RedisCommand("GET", key), RedisCommand("INCR", key), RedisCommand("PING")])
        #expect(try results[0].get() == .bulk(Array("not a number".utf8)))
        #expect(throws: RedisError.self) { try results[1].get() }
        #expect(try results[2].get() == .simple("PONG"))
        // The connection stays usable after error replies.
        #expect(try redis.send("PING") == .simple("PONG"))
    }

    @Test func scriptSurvivesScriptFlush() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("script")
        defer { _ = try? redis.send("DEL", key) }
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try redis.run(script, keys: [key], arguments: [5]) == .integer(5))
        try redis.send("SCRIPT", "FLUSH")
        #expect(try redis.run(script, keys: [key], arguments: [2]) == .integer(7))
        #expect(try redis.run(script, keys: [key], arguments: [1]) == .integer(8))
    }

    /// A `SCRIPT FLUSH` can land between two commands of one pipeline: the calls before it ran, the
    /// ones after answer NOSCRIPT. Only those are sent again, so nothing runs twice.
    @Test func aNoscriptMidPipelineResendsOnlyTheCallsThatDidNotRun() throws {
        let redis = try connect()
        let other = try connect()
        let key = TestServers.uniqueName("noscript")
        defer { _ = try? redis.send("DEL", key) }
        // A non-idempotent call (like a keyless enqueue) and a second script.
        let push = RedisScript("return redis.call('RPUSH', KEYS[1], ARGV[1])")
        let length = RedisScript("return redis.call('LLEN', KEYS[1])")
        _ = try redis.runPipelined([RedisScriptCall(push, keys: [key], arguments: ["warm"]), RedisScriptCall(length, keys: [key], arguments: [])])
        // The flush, then `push` is loaded again by someone else: in the next pipeline the pushes
        // run and every `length` call answers NOSCRIPT — the state a flush mid-pipeline leaves.
        try other.send("SCRIPT", "FLUSH")
        try other.send("SCRIPT", "LOAD", push.source)
        let calls = (0..<5).flatMap { n in
            [RedisScriptCall(push, keys: [key], arguments: ["m\(n)"]), RedisScriptCall(length, keys: [key], arguments: [])]
        }
        let results = try redis.runPipelined(calls)
        for (index, result) in results.enumerated() { #expect(throws: Never.self, "call \(index)") { try result.get() } }
        let items = try redis.send("LRANGE", key, 0, -1).array?.compactMap(\.string)
        #expect(items == ["warm", "m0", "m1", "m2", "m3", "m4"], "each push ran once")
    }

    @Test func reconnectsAfterShutdownAndRestart() throws {
        let server = try EphemeralRedis.start()
        defer { server.destroy() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.reconnectWindow = .seconds(10)
        let redis = try RedisConnection(configuration: configuration)
        try redis.send("SET", "survivor", "kept by AOF")
        // SHUTDOWN NOSAVE drops the connection instead of replying.
        #expect(throws: RedisError.self) { try redis.send("SHUTDOWN", "NOSAVE") }
        try server.waitUntil(answering: false)
        // Restart in the background while the client is already retrying.
        let restarted = Thread { try? server.startServer() }
        restarted.start()
        #expect(try redis.send("PING") == .simple("PONG"))
        #expect(try redis.send("GET", "survivor") == .bulk(Array("kept by AOF".utf8)))
    }

    @Test func anIdleConnectionClosedByTheServerIsReplacedBeforeUse() throws {
        let redis = try connect()
        let admin = try connect()
        let id = try #require(try redis.send("CLIENT", "ID").int)
        try admin.send("CLIENT", "KILL", "ID", id)
        // The kill is noticed without a failed command.
        #expect(try redis.send("PING") == .simple("PONG"))
        #expect(try redis.send("CLIENT", "ID").int != id)
    }

    @Test func commandTimeoutDiscardsTheConnection() throws {
        let server = try EphemeralRedis.start()
        defer { server.destroy() }
        var configuration = try RedisConfiguration(url: server.url)
        configuration.commandTimeout = .milliseconds(200)
        let redis = try RedisConnection(configuration: configuration)
        do {
            try redis.send("DEBUG", "SLEEP", "1")
            Issue.record("DEBUG SLEEP 1 must time out")
        } catch let error as RedisError {
            guard case .connection(_, let mayHaveExecuted) = error else {
                Issue.record("expected a connection error, got \(error)")
                return
            }
            #expect(mayHaveExecuted)
        }
        // DEBUG SLEEP blocks the whole server; once it is over, its late "+OK" must never be
        // read as the answer to the next command.
        Thread.sleep(forTimeInterval: 1.0)
        #expect(try redis.send("ECHO", "fresh") == .bulk(Array("fresh".utf8)))
    }

    @Test func authenticatesAndSelectsTheDatabaseFromTheURL() throws {
        let server = try EphemeralRedis.start()
        defer { server.destroy() }
        let admin = try RedisConnection(configuration: RedisConfiguration(url: server.url))
        try admin.send("ACL", "SETUSER", "trader", "on", ">s3cret:@x", "~*", "+@all")
        try admin.send("CONFIG", "SET", "requirepass", "rootpw")

        let user = try RedisConnection(configuration: RedisConfiguration(url: "redis://trader:s3cret%3A%40x@127.0.0.1:\(server.port)/3"))
        try user.send("SET", "k", "in db 3")
        #expect(try user.send("ACL", "WHOAMI") == .bulk(Array("trader".utf8)))
        let legacy = try RedisConnection(configuration: RedisConfiguration(url: "redis://:rootpw@127.0.0.1:\(server.port)/3"))
        #expect(try legacy.send("GET", "k") == .bulk(Array("in db 3".utf8)))

        do {
            _ = try RedisConnection(configuration: RedisConfiguration(url: "redis://trader:wrong@127.0.0.1:\(server.port)/0"))
            Issue.record("a wrong password must be refused")
        } catch let error as RedisError {
            #expect(error.serverCode == "WRONGPASS")
        }
    }

    @Test func blockingCommandsRunOnAClientOfTheirOwn() async throws {
        let configuration = try RedisConfiguration(url: try TestServers.redisURL)
        let client = try await RedisClient(configuration: configuration)
        let blocking = try await client.makeBlockingClient()
        let stream = TestServers.uniqueName("stream")
        defer { client.close(); blocking.close() }
        try await client.send("XGROUP", "CREATE", stream, "workers", "$", "MKSTREAM")

        let reader = Task {
            try await blocking.send(
                RedisCommand("XREADGROUP", "GROUP", "workers", "c1", "COUNT", 10, "BLOCK", 5000, "STREAMS", stream, ">"),
                timeout: .seconds(5))
        }
        // While the reader blocks server-side, the other client answers at once.
        let started = ContinuousClock.now
        for _ in 0..<20 { #expect(try await client.send("PING") == .simple("PONG")) }
        #expect(ContinuousClock.now - started < .seconds(2))
        try await Task.sleep(for: .milliseconds(100))
        try await client.send("XADD", stream, "*", "job", "hello")
        let reply = try await reader.value
        let entries = try #require(reply.array?.first?.array?[1].array)
        #expect(entries.count == 1)
        #expect(entries[0].array?[1].array?.map { $0.string } == ["job", "hello"])
        try await client.send("DEL", stream)
    }

    @Test func concurrentTasksShareOneClient() async throws {
        let client = try await RedisClient(configuration: RedisConfiguration(url: try TestServers.redisURL))
        defer { client.close() }
        let key = TestServers.uniqueName("concurrent")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { try await client.send("INCR", key) }
            }
            try await group.waitForAll()
        }
        #expect(try await client.send("GET", key).int == 50)
        try await client.send("DEL", key)
    }

    @Test func urlParsingNamesTheBadPart() throws {
        let ok = try RedisConfiguration(url: "redis://alice:p%40ss@cache.internal:6380/2")
        #expect(ok.host == "cache.internal" && ok.port == 6380 && ok.database == 2)
        #expect(ok.username == "alice" && ok.password == "p@ss")
        #expect(!ok.description.contains("p@ss"))
        #expect(try RedisConfiguration(url: "redis://127.0.0.1").port == 6379)

        func reason(_ url: String) -> String {
            do { _ = try RedisConfiguration(url: url); return "accepted" } catch { return "\(error)" }
        }
        #expect(reason("redis://127.0.0.1:6379/abc").contains("database"))
        #expect(reason("http://127.0.0.1:6379").contains("scheme"))
        #expect(reason("redis://127.0.0.1:99999").contains("TM_REDIS_URL"))
        #expect(reason("redis:///0").contains("host"))
        #expect(reason("redis://h:1/0?bogus=1").contains("bogus"))
    }
}
