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
///
/// Text and integers keep their `String` (a short one is held inline, a long one shares the string's
/// buffer), so making an argument allocates nothing of its own; only byte arrays and `Data` are held
/// as `[UInt8]`. Equality and hashing are by the bytes, whichever way they are held.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    private enum Storage: Sendable {
        case text(String)
        case bytes([UInt8])
    }

    private let storage: Storage

    public init(bytes: [UInt8]) { storage = .bytes(bytes) }
    public init(_ string: String) { storage = .text(string) }
    public init(_ data: Data) { storage = .bytes(Array(data)) }
    public init<I: BinaryInteger>(_ integer: I) { storage = .text(String(integer)) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }

    /// The bytes as an array (a copy for text: for tests and rare callers; the wire reads them in place).
    public var bytes: [UInt8] {
        switch storage {
        case .text(let text): Array(text.utf8)
        case .bytes(let bytes): bytes
        }
    }

    /// The number of bytes sent.
    public var count: Int {
        switch storage {
        case .text(let text): text.utf8.count
        case .bytes(let bytes): bytes.count
        }
    }

    /// Calls `body` with the bytes in place (valid only inside `body`).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .text(var text): try text.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
        case .bytes(let bytes): try bytes.withUnsafeBytes(body)
        }
    }

    public static func == (lhs: RedisArgument, rhs: RedisArgument) -> Bool {
        lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(count)
    }
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
        self.init(name, arguments: arguments)
    }

    public init(_ name: String, arguments: [any RedisArgumentConvertible]) {
        // One array, sized once (a concatenation would build two).
        var all: [RedisArgument] = []
        all.reserveCapacity(arguments.count + 1)
        all.append(RedisArgument(name))
        for argument in arguments { all.append(argument.redisArgument) }
        self.init(all)
    }

    /// `EVALSHA sha numkeys keys... arguments...`, in one array sized once.
    init(evalsha sha: String, keys: [RedisArgument], arguments: [RedisArgument]) {
        var all: [RedisArgument] = []
        all.reserveCapacity(3 + keys.count + arguments.count)
        all.append("EVALSHA")
        all.append(RedisArgument(sha))
        all.append(RedisArgument(keys.count))
        all.append(contentsOf: keys)
        all.append(contentsOf: arguments)
        self.init(all)
    }

    /// The command name only: arguments may hold payloads or secrets, so they stay out of logs.
    public var description: String { String(decoding: arguments[0].bytes, as: UTF8.self).uppercased() }
}
