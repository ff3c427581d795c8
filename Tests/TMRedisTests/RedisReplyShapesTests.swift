import Foundation
import Testing
import TestSupport
import TMRedis

/// Every shape of RESP2 reply, from the harness's real Redis, read into the `RedisValue` it stands for:
/// the replies are built as hiredis reads them (`RedisReplyBuilder`), so each element must land in its
/// own array at its own depth, whole, also when a reply arrives over many socket reads.
@Suite struct RedisReplyShapesTests {
    func connect() throws -> RedisConnection {
        try RedisConnection(configuration: RedisConfiguration(url: try TestServers.redisURL))
    }

    func eval(_ redis: RedisConnection, _ script: String) throws -> RedisValue {
        try redis.send("EVAL", script, 0)
    }

    @Test func nestedArraysKeepTheirDepthAndOrder() throws {
        let redis = try connect()
        // Arrays that end together (the innermost closes its parents), an empty array inside, and
        // elements after a nested array.
        #expect(try eval(redis, "return {1, {2, {3, {4}}}}")
                == .array([.integer(1), .array([.integer(2), .array([.integer(3), .array([.integer(4)])])])]))
        #expect(try eval(redis, "return {1, {2, {'a', {}}, 'b'}, 'c'}")
                == .array([.integer(1), .array([.integer(2), .array([.bulk(Array("a".utf8)), .array([])]), .bulk(Array("b".utf8))]),
                           .bulk(Array("c".utf8))]))
        #expect(try eval(redis, "return {}") == .array([]))
        #expect(try eval(redis, "return {{}, {}, {{}}}") == .array([.array([]), .array([]), .array([.array([])])]))
        // As deep as hiredis reads (7 levels below the top).
        #expect(try eval(redis, "return {{{{{{{{7}}}}}}}}")
                == (0..<8).reduce(RedisValue.integer(7)) { inner, _ in .array([inner]) })
    }

    @Test func nilIntegersStatusAndEmptyStrings() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("shapes")
        defer { _ = try? redis.send("DEL", key) }
        #expect(try redis.send("GET", key) == .null)
        #expect(try eval(redis, "return {1, false, 3}") == .array([.integer(1), .null, .integer(3)]))
        #expect(try eval(redis, "return false") == .null)
        #expect(try redis.send("SET", key, "9223372036854775806") == .simple("OK"))
        #expect(try redis.send("INCR", key) == .integer(.max))
        #expect(try redis.send("SET", key, "-9223372036854775807") == .simple("OK"))
        #expect(try redis.send("DECR", key) == .integer(.min))
        #expect(try redis.send("INCRBY", key, 0) == .integer(.min))
        #expect(try redis.send("PING") == .simple("PONG"))
        #expect(try eval(redis, "return redis.status_reply('QUEUED-LIKE status')") == .simple("QUEUED-LIKE status"))
        #expect(try eval(redis, "return {redis.status_reply('S'), ''}") == .array([.simple("S"), .bulk([])]))
        #expect(try redis.send("SET", key, "") == .simple("OK"))
        #expect(try redis.send("GET", key) == .bulk([]))
    }

    @Test func anErrorAtTheTopIsThrownAndInsideAnArrayIsData() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("shapes-err")
        defer { _ = try? redis.send("DEL", key) }
        try redis.send("SET", key, "text")
        do {
            try eval(redis, "return redis.error_reply('CODE7 went wrong')")
            Issue.record("an error reply must be thrown")
        } catch let error as RedisError {
            #expect(error == .server(code: "CODE7", message: "CODE7 went wrong"))
        }
        // EXEC's array carries a failed command's error as an element, between the others.
        let results = try redis.pipeline([RedisCommand("MULTI"), RedisCommand("INCR", key), RedisCommand("GET", key),
                                          RedisCommand("EXEC"), RedisCommand("PING")])
        let exec = try results[3].get()
        let elements = try #require(exec.array)
        #expect(elements.count == 2)
        #expect(elements.first?.string?.hasPrefix("ERR") == true)
        #expect(elements.last == .bulk(Array("text".utf8)))
        #expect(try results[4].get() == .simple("PONG"))
        #expect(try eval(redis, "return {1, redis.error_reply('E2 inner'), {2}}")
                == .array([.integer(1), .simple("E2 inner"), .array([.integer(2)])]))
    }

    @Test func largeBulkStringsArriveWholeOverManyReads() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("shapes-big")
        defer { _ = try? redis.send("DEL", key) }
        // hiredis reads 16 KB at a time: these cross many reads, one byte past a read and NULs inside.
        for size in [16 * 1024 - 1, 16 * 1024, 16 * 1024 + 1, 1 << 20, 3 << 20 + 7] {
            let value = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 8)) }
            try redis.send(RedisCommand("SET", key, value))
            #expect(try redis.send("GET", key) == .bulk(value), "size \(size)")
            #expect(try eval(redis, "return {redis.call('GET', KEYS[1] or '\(key)'), 5}")
                    == .array([.bulk(value), .integer(5)]), "size \(size) inside an array")
        }
    }

    @Test func aLongNestedReplySplitAcrossReadsKeepsEveryElement() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("shapes-stream")
        defer { _ = try? redis.send("DEL", key) }
        let count = 3_000
        let adds = (0..<count).map { RedisCommand("XADD", key, "\($0 + 1)-0", "field", "value-\($0)", "n", $0) }
        for result in try redis.pipeline(adds) { _ = try result.get() }
        // [[id, [field, value, n, i]], ...]: ~150 KB, so entries are cut across reads at every depth.
        let entries = try #require(try redis.send("XRANGE", key, "-", "+").array)
        #expect(entries.count == count)
        for (i, entry) in entries.enumerated() {
            #expect(entry == .array([.bulk(Array("\(i + 1)-0".utf8)),
                                     .array([.bulk(Array("field".utf8)), .bulk(Array("value-\(i)".utf8)),
                                             .bulk(Array("n".utf8)), .bulk(Array("\(i)".utf8))])]), "entry \(i)")
        }
    }

    @Test func pipelinedRepliesOfEveryShapeStayApartAndInOrder() throws {
        let redis = try connect()
        let key = TestServers.uniqueName("shapes-pipe")
        defer { _ = try? redis.send("DEL", key, key + ":list") }
        let big = [UInt8](repeating: 0x41, count: 40_000)
        var commands: [RedisCommand] = []
        var expected: [Result<RedisValue, RedisError>] = []
        for round in 0..<50 {
            commands.append(RedisCommand("RPUSH", key + ":list", "r\(round)"))
            expected.append(.success(.integer(Int64(round + 1))))
            commands.append(RedisCommand("EVAL", "return {ARGV[1], {tonumber(ARGV[1]), false}, {}}", 0, round))
            expected.append(.success(.array([.bulk(Array("\(round)".utf8)), .array([.integer(Int64(round)), .null]), .array([])])))
            commands.append(RedisCommand("EVAL", "return redis.error_reply('E\(round) refused')", 0))
            expected.append(.failure(.server(code: "E\(round)", message: "E\(round) refused")))
            commands.append(RedisCommand("GET", TestServers.uniqueName("none")))
            expected.append(.success(.null))
            if round % 10 == 0 {
                commands.append(RedisCommand("SET", key, big))
                expected.append(.success(.simple("OK")))
                commands.append(RedisCommand("GET", key))
                expected.append(.success(.bulk(big)))
            }
            commands.append(RedisCommand("PING"))
            expected.append(.success(.simple("PONG")))
        }
        let results = try redis.pipeline(commands)
        #expect(results.count == expected.count)
        for (i, (result, want)) in zip(results, expected).enumerated() {
            #expect(result == want, "reply \(i)")
        }
        // And the connection reads the next reply alone.
        #expect(try redis.send("LLEN", key + ":list") == .integer(50))
    }
}
