import TMCore

/// An async Redis client: one `RedisConnection` owned by a thread of its own.
///
/// Guarantees: hiredis's blocking calls run on the client's `BlockingThread`, never on Swift's
/// cooperative pool; commands from concurrent tasks are serialized in arrival order on the one
/// connection; blocking commands (`XREADGROUP ... BLOCK`, `BLPOP`) must use a client of their own
/// (`makeBlockingClient()`), so they never hold up other traffic.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let thread: BlockingThread
    private let box: ConnectionBox

    /// Connects on the client's thread; throws if Redis cannot be reached within the reconnect window.
    public init(configuration: RedisConfiguration, name: String = "redis") async throws {
        self.configuration = configuration
        self.thread = BlockingThread(name: name)
        let box = ConnectionBox()
        self.box = box
        do {
            try await thread.run { box.connection = try RedisConnection(configuration: configuration) }
        } catch {
            thread.shutdown()
            throw error
        }
    }

    deinit { close() }

    /// A second client, with its own connection and thread, for commands that block server-side.
    public func makeBlockingClient(name: String = "redis-blocking") async throws -> RedisClient {
        try await RedisClient(configuration: configuration, name: name)
    }

    /// Runs `body` with the connection on the client's thread: for several commands in a row
    /// (a read-modify-write via a script is better still).
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (RedisConnection) throws -> T) async throws -> T {
        let box = self.box
        return try await thread.run { try body(box.connection!) }
    }

    @discardableResult
    public func send(_ command: RedisCommand, timeout: Duration? = nil) async throws -> RedisValue {
        try await withConnection { try $0.send(command, timeout: timeout) }
    }

    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgumentConvertible...) async throws -> RedisValue {
        let command = RedisCommand(name, arguments: arguments)
        return try await withConnection { try $0.send(command) }
    }

    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RedisValue, RedisError>] {
        try await withConnection { try $0.pipeline(commands) }
    }

    @discardableResult
    public func run(
        _ script: RedisScript, keys: [any RedisArgumentConvertible] = [], arguments: [any RedisArgumentConvertible] = []
    ) async throws -> RedisValue {
        let keys = keys.map(\.redisArgument)
        let arguments = arguments.map(\.redisArgument)
        return try await withConnection { try $0.run(script, keys: keys, arguments: arguments) }
    }

    /// Closes the connection after queued commands finish, and stops the thread.
    public func close() {
        let box = self.box
        _ = try? thread.runAndWait { box.connection?.close() }
        thread.shutdown()
    }
}

/// Holds the connection; touched only on the owning client's thread.
private final class ConnectionBox: @unchecked Sendable {
    var connection: RedisConnection?
}
