import Foundation

/// A reply from Redis. Error replies are never values: they are thrown as `RedisError.server`.
///
/// Bulk strings are raw bytes, so binary payloads (NUL bytes included) round-trip unchanged.
public enum RedisValue: Sendable, Equatable, CustomStringConvertible {
    case simple(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisValue])

    public var isNull: Bool { self == .null }

    /// The reply as UTF-8 text (simple or bulk string, or an integer's digits).
    public var string: String? {
        switch self {
        case .simple(let s): return s
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .integer(let i): return String(i)
        default: return nil
        }
    }

    /// The reply as bytes (bulk or simple string).
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): return bytes
        case .simple(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// The reply as an integer (an integer reply, or a string holding one).
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulk, .simple: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var description: String {
        switch self {
        case .simple(let s): return s
        case .integer(let i): return "(integer) \(i)"
        case .bulk(let b): return "\"\(String(decoding: b, as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let values): return "[" + values.map(\.description).joined(separator: ", ") + "]"
        }
    }
}

/// One argument of a Redis command, as the exact bytes sent on the wire.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(_ data: Data) { self.bytes = Array(data) }
    public init<I: BinaryInteger>(_ integer: I) { self.bytes = Array(String(integer).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}

/// Values that can be passed as command arguments without conversion at the call site.
public protocol RedisArgumentConvertible: Sendable {
    var redisArgument: RedisArgument { get }
}

extension RedisArgument: RedisArgumentConvertible { public var redisArgument: RedisArgument { self } }
extension String: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(self) } }
extension Substring: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(String(self)) } }
extension Int: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(self) } }
extension Int64: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(self) } }
extension Int32: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(self) } }
extension UInt64: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(self) } }
extension Data: RedisArgumentConvertible { public var redisArgument: RedisArgument { RedisArgument(self) } }
extension Array: RedisArgumentConvertible where Element == UInt8 {
    public var redisArgument: RedisArgument { RedisArgument(bytes: self) }
}

/// A command as an argument vector, e.g. `RedisCommand("SET", key, value)`.
public struct RedisCommand: Sendable, CustomStringConvertible {
    public var arguments: [RedisArgument]

    public init(_ arguments: [RedisArgument]) {
        precondition(!arguments.isEmpty, "a Redis command needs at least its name")
        self.arguments = arguments
    }

    public init(_ name: String, _ arguments: any RedisArgumentConvertible...) {
        self.init([RedisArgument(name)] + arguments.map(\.redisArgument))
    }

    public init(_ name: String, arguments: [any RedisArgumentConvertible]) {
        self.init([RedisArgument(name)] + arguments.map(\.redisArgument))
    }

    /// The command name only: arguments may hold payloads or secrets, so they stay out of logs.
    public var description: String { String(decoding: arguments[0].bytes, as: UTF8.self).uppercased() }
}
