import Testing
import TestSupport
@testable import TMRedis

/// `withArgv` hands hiredis every argument's exact bytes and length, for a few small arguments as
/// for thousands and megabytes, and a server stores each one apart (no argument runs into its neighbour).
@Suite struct RedisArgvLayoutTests {
    /// Arguments of many sizes: empty, one byte, NUL bytes, odd lengths that leave the bytes unaligned.
    static func mixedArguments(count: Int) -> [RedisArgument] {
        (0..<count).map { i in
            let length = i % 7 == 0 ? 0 : (i * 37) % 301
            return RedisArgument(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
        }
    }

    static func laidOut(_ arguments: [RedisArgument]) -> [[UInt8]] {
        arguments.withArgv { argc, argv, lengths in
            (0..<Int(argc)).map { i in
                Array(UnsafeRawBufferPointer(start: argv[i].map(UnsafeRawPointer.init), count: lengths[i]))
            }
        }
    }

    @Test func everyArgumentIsLaidOutWithItsOwnBytesAndLength() {
        for count in [1, 2, 3, 10, 200] {
            let arguments = Self.mixedArguments(count: count)
            #expect(Self.laidOut(arguments) == arguments.map(\.bytes), "\(count) arguments")
        }
    }

    @Test func manyAndLargeArgumentsAreLaidOutToo() {
        // 2 MB in 4,000 arguments: an enqueue batch's size.
        var arguments = Self.mixedArguments(count: 4_000)
        arguments.append(RedisArgument(bytes: (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        #expect(Self.laidOut(arguments) == arguments.map(\.bytes))
    }

    @Test func theServerStoresEachArgumentApart() throws {
        let redis = try RedisConnection(configuration: RedisConfiguration(url: try TestServers.redisURL))
        let key = TestServers.uniqueName("argv")
        defer { _ = try? redis.send("DEL", key) }
        let values = Self.mixedArguments(count: 120)
        try redis.send(RedisCommand([RedisArgument("RPUSH"), RedisArgument(key)] + values))
        let stored = try #require(try redis.send("LRANGE", key, 0, -1).array)
        #expect(stored == values.map { RedisValue.bulk($0.bytes) })
    }
}
