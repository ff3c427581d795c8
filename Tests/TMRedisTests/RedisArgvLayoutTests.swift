import CHiredis
import Testing
import TestSupport
@testable import TMRedis

/// `withRESP` hands hiredis every command byte for byte as hiredis's own `redisFormatCommandArgv`
/// (what the connection used before it formatted commands itself) spells it, for a few small
/// arguments as for thousands and megabytes, at every length whose decimal grows a digit; and a
/// server stores each argument apart (no argument runs into its neighbour).
@Suite struct RedisArgvLayoutTests {
    /// Arguments of many sizes: empty, one byte, NUL bytes, CR and LF, odd lengths.
    static func mixedArguments(count: Int) -> [RedisArgument] {
        (0..<count).map { i in
            let length = i % 7 == 0 ? 0 : (i * 37) % 301
            return RedisArgument(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
        }
    }

    /// The command as hiredis formats it from the arguments' bytes.
    static func hiredisFormat(_ arguments: [RedisArgument]) -> [UInt8] {
        let copies = arguments.map(\.bytes)
        let pointers = copies.map { bytes -> UnsafeMutablePointer<CChar> in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
            bytes.withUnsafeBytes { UnsafeMutableRawPointer(pointer).copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(pointer), byteCount: bytes.count) }
            return pointer
        }
        defer { pointers.forEach { $0.deallocate() } }
        var argv = pointers.map { UnsafePointer<CChar>?(UnsafePointer($0)) }
        let lengths = copies.map(\.count)
        var target: UnsafeMutablePointer<CChar>?
        let length = redisFormatCommandArgv(&target, Int32(arguments.count), &argv, lengths)
        precondition(length >= 0, "hiredis could not format the command")
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(length)))
    }

    static func formatted(_ arguments: [RedisArgument]) -> [UInt8] {
        arguments.withRESP { Array($0) }
    }

    /// Whether `withRESP` gives hiredis's bytes; a difference is reported by where it starts, not
    /// by printing megabytes of both.
    static func agree(_ arguments: [RedisArgument]) -> (Bool, String) {
        let (ours, theirs) = (formatted(arguments), hiredisFormat(arguments))
        guard ours != theirs else { return (true, "") }
        let common = min(ours.count, theirs.count)
        let at = (0..<common).first { ours[$0] != theirs[$0] } ?? common
        return (false, "lengths \(ours.count) vs \(theirs.count), first difference at byte \(at)")
    }

    @Test func everyCommandIsFormattedAsHiredisFormatsIt() {
        for count in [1, 2, 3, 9, 10, 11, 99, 100, 101, 200] {
            let arguments = Self.mixedArguments(count: count)
            do { let (same, why) = Self.agree(arguments); #expect(same, "\(why) \(count) arguments") }
        }
        // Text arguments (held as `String`, small and large, non-ASCII) and integers.
        let text: [RedisArgument] = ["EVALSHA", RedisArgument(String(repeating: "ä€𝄞", count: 50)), RedisArgument(-12_345), 0,
                                     RedisArgument(Int64.max), RedisArgument(""), RedisArgument("tm:{orders.3}:stream")]
        do { let (same, why) = Self.agree(text); #expect(same, "\(why)") }
    }

    @Test func everyLengthAroundADigitBoundaryIsFormattedAsHiredisFormatsIt() {
        for length in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, 1_001, 9_999, 10_000, 10_001, 99_999, 100_000, 100_001] {
            let arguments = [RedisArgument("SET"), RedisArgument(bytes: [UInt8](repeating: 0x0D, count: length)),
                             RedisArgument(bytes: (0..<length).map { UInt8(truncatingIfNeeded: $0) })]
            do { let (same, why) = Self.agree(arguments); #expect(same, "\(why) length \(length)") }
        }
    }

    @Test func manyAndLargeArgumentsAreFormattedToo() {
        // 2 MB in 4,000 arguments: an enqueue batch's size; and 1,000 and 10,000 arguments exactly.
        var arguments = Self.mixedArguments(count: 4_000)
        arguments.append(RedisArgument(bytes: (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }))
        do { let (same, why) = Self.agree(arguments); #expect(same, "\(why)") }
        for count in [999, 1_000, 9_999, 10_000] {
            let many = (0..<count).map { RedisArgument($0) }
            do { let (same, why) = Self.agree(many); #expect(same, "\(why) \(count) arguments") }
        }
    }

    @Test func theServerStoresEachArgumentApart() throws {
        let redis = try RedisConnection(configuration: RedisConfiguration(url: try TestServers.redisURL))
        let key = TestServers.uniqueName("argv")
        defer { _ = try? redis.send("DEL", key) }
        let values = Self.mixedArguments(count: 120)
        try redis.send(RedisCommand([RedisArgument("RPUSH"), RedisArgument(key)] + values))
        let stored = try #require(try redis.send("LRANGE", key, 0, -1).array)
        let storedApart = stored == values.map { RedisValue.bulk($0.bytes) }
        #expect(storedApart)
        // A pipeline of many commands, each with arguments of every length class, answered in order.
        let commands = (0..<50).map { i in RedisCommand("ECHO", RedisArgument(bytes: [UInt8](repeating: UInt8(i), count: i * i * 40))) }
        let replies = try redis.pipeline(commands).map { try $0.get() }
        let inOrder = replies == (0..<50).map { i in RedisValue.bulk([UInt8](repeating: UInt8(i), count: i * i * 40)) }
        #expect(inOrder)
    }
}
