import Foundation
import Testing
import TestSupport
@testable import TMRedis

/// A `RedisArgument` keeps text and integers as their `String` and other bytes as an array: whichever
/// way it holds them, it sends, compares, hashes and slots exactly the bytes an array of the UTF-8 would.
@Suite struct RedisArgumentBytesTests {
    /// Text at the edges of a `String`'s inline form (15 bytes) and beyond, multi-byte characters
    /// (whose UTF-8 is longer than their count of characters), and a NUL inside.
    static let texts = ["", "a", "fifteen-bytes!!", "sixteen-bytes!!!", String(repeating: "x", count: 4_096),
                        "é", "zürich-€-東京-🙂", "{tag}.key", "nul\u{0}inside", String(repeating: "🙂", count: 40)]
    static let integers: [Int64] = [0, 7, -1, 123_456_789_012_345, -123_456_789_012_345, .max, .min]

    /// Every text and integer as a text argument, each paired with the bytes it must send.
    static var expected: [(RedisArgument, [UInt8])] {
        var pairs: [(RedisArgument, [UInt8])] = texts.map { (RedisArgument($0), Array($0.utf8)) }
        pairs += integers.map { (RedisArgument($0), Array(String($0).utf8)) }
        pairs.append((RedisArgument(UInt64.max), Array("18446744073709551615".utf8)))
        pairs.append((RedisArgument(Int32.min), Array("-2147483648".utf8)))
        pairs.append(("a-literal", Array("a-literal".utf8)))
        pairs.append((42, Array("42".utf8)))
        pairs.append((RedisArgument(Data([0, 1, 255])), [0, 1, 255]))
        pairs.append(("x{key}y".dropFirst().redisArgument, Array("{key}y".utf8)))
        return pairs
    }

    @Test func textAndIntegersGiveTheirUTF8() {
        for (argument, bytes) in Self.expected {
            #expect(argument.bytes == bytes)
            #expect(argument.count == bytes.count)
            #expect(argument.withUnsafeBytes { Array($0) } == bytes)
        }
    }

    @Test func equalityAndHashingAreByTheBytesWhicheverWayTheyAreHeld() {
        let arguments = Self.expected
        for (argument, bytes) in arguments {
            let asArray = RedisArgument(bytes: bytes)
            #expect(argument == asArray)
            #expect(asArray == argument)
            #expect(argument.hashValue == asArray.hashValue)
        }
        // Different bytes are different arguments, also at the same length.
        for (i, (left, leftBytes)) in arguments.enumerated() {
            for (right, rightBytes) in arguments[(i + 1)...] where leftBytes != rightBytes {
                #expect(left != right, "\(leftBytes) against \(rightBytes)")
                #expect(RedisArgument(bytes: leftBytes) != right)
            }
        }
        #expect(RedisArgument("ab") != RedisArgument("ba"))
        #expect(RedisArgument("ab") != RedisArgument(bytes: Array("ab\u{0}".utf8)))
        #expect(Set([RedisArgument("k"), RedisArgument(bytes: Array("k".utf8)), RedisArgument("K")]).count == 2)
    }

    @Test func aKeysSlotIsTheSameFromTextAndFromBytes() {
        for key in Self.texts + ["{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "123456789"] {
            let bytes = Array(key.utf8)
            #expect(RedisKeySlot.slot(of: RedisArgument(key)) == RedisKeySlot.slot(of: bytes), "\(key)")
            #expect(RedisKeySlot.slot(of: key) == RedisKeySlot.slot(of: bytes), "\(key)")
        }
        #expect(RedisKeySlot.slot(of: "123456789") == 0x31C3)
        #expect(RedisKeySlot.slot(of: RedisArgument("{user1000}.following")) == RedisKeySlot.slot(of: "user1000"))
    }

    @Test func textArgumentsAreLaidOutWithTheirUTF8BesideByteArguments() {
        // Text, integers and arrays interleaved: the command is formatted as hiredis formats the
        // expected bytes (each argument's length and bytes its own).
        let pairs = Self.expected + RedisArgvLayoutTests.mixedArguments(count: 30).map { ($0, $0.bytes) }
        let shuffled = pairs.enumerated().sorted { ($0.offset * 7919) % 101 < ($1.offset * 7919) % 101 }.map(\.element)
        let same = RedisArgvLayoutTests.formatted(shuffled.map(\.0)) == RedisArgvLayoutTests.hiredisFormat(shuffled.map { RedisArgument(bytes: $0.1) })
        #expect(same)
    }

    @Test func theServerStoresTextArgumentsByteForByte() throws {
        let redis = try RedisConnection(configuration: RedisConfiguration(url: try TestServers.redisURL))
        let key = TestServers.uniqueName("argtext")
        defer { _ = try? redis.send("DEL", key) }
        let arguments = Self.expected.map(\.0)
        try redis.send(RedisCommand([RedisArgument("RPUSH"), RedisArgument(key)] + arguments))
        let stored = try #require(try redis.send("LRANGE", key, 0, -1).array)
        #expect(stored == Self.expected.map { RedisValue.bulk($0.1) })
        // A lone command's error reply is thrown as the server's, and the same connection (no
        // reconnect: the client id is unchanged) answers the next command rightly.
        let client = try redis.send("CLIENT", "ID")
        do {
            _ = try redis.send("INCR", key)
            Issue.record("INCR of a list was not refused")
        } catch let error as RedisError {
            #expect(error.serverCode == "WRONGTYPE")
        }
        #expect(try redis.send("LLEN", key) == .integer(Int64(arguments.count)))
        #expect(try redis.send("CLIENT", "ID") == client)
    }
}
