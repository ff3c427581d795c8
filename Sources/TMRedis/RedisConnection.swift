import CHiredis
import Foundation
import TMCore
#if canImport(Glibc)
import Glibc
#endif

/// One synchronous connection to Redis over hiredis.
///
/// Guarantees:
/// - Arguments are sent as length-prefixed byte vectors (binary-safe: `withRESP` writes each as a
///   RESP bulk string of its exact bytes, nothing is interpolated into a command line), and error
///   replies are thrown as `RedisError.server`.
/// - A pipeline writes all its commands before reading any reply, so N commands cost one round trip,
///   and replies come back in command order.
/// - A connection the server closed while it sat idle is noticed before the next command is written
///   (no round trip needed) and replaced; a server that is down is retried with exponential backoff
///   for `configuration.reconnectWindow` before the command fails as not executed.
/// - A failure after a command was written throws `.connection(mayHaveExecuted: true)` and discards
///   the connection, so a late reply can never be read as the answer to a later command.
///
/// Not thread-safe: use it from one thread at a time. `RedisClient` gives it a thread of its own.
public final class RedisConnection {
    public let configuration: RedisConfiguration
    private var context: UnsafeMutablePointer<redisContext>?
    /// Builds each reply into `RedisValue`s as hiredis reads it (no `redisReply` objects).
    private let replies = RedisReplyBuilder()
    /// SHA1s of scripts this process has loaded (`RedisScript` falls back on NOSCRIPT).
    var loadedScripts: [RedisScript.Key: String] = [:]

    /// Connects now, so a wrong address or password is reported at once.
    public init(configuration: RedisConfiguration) throws {
        self.configuration = configuration
        try ensureConnected()
    }

    deinit { close() }

    /// Whether a live connection is currently held (it may still turn out to be dead on next use).
    public var isConnected: Bool { context != nil }

    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Sends one command and returns its reply. `timeout` overrides the command timeout, for
    /// blocking commands such as `XREADGROUP ... BLOCK`.
    @discardableResult
    public func send(_ command: RedisCommand, timeout: Duration? = nil) throws -> RedisValue {
        var reply: Result<RedisValue, RedisError>?
        try exchange(CollectionOfOne(command), timeout: timeout) { reply = $0 }
        return try reply!.get()
    }

    /// Sends one command: `try connection.send("SET", key, value)`.
    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgumentConvertible...) throws -> RedisValue {
        try send(RedisCommand(name, arguments: arguments))
    }

    /// Sends every command in one write and reads the replies in order. A server error for one
    /// command is that command's result; a connection failure throws for the whole pipeline.
    public func pipeline(_ commands: [RedisCommand]) throws -> [Result<RedisValue, RedisError>] {
        try pipeline(commands, timeout: nil)
    }

    /// The same, waiting up to `timeout` longer than the command timeout for the replies: for a
    /// pipeline that starts with a blocking command (the later commands run once it has answered).
    public func pipeline(_ commands: [RedisCommand], timeout: Duration?) throws -> [Result<RedisValue, RedisError>] {
        if commands.isEmpty { return [] }
        var results: [Result<RedisValue, RedisError>] = []
        results.reserveCapacity(commands.count)
        try exchange(commands, timeout: timeout) { results.append($0) }
        return results
    }

    // MARK: - Wire

    /// Writes the commands, then reads every reply and hands it to `take`, in command order (a lone
    /// command's reply needs no array).
    private func exchange<Commands: Collection<RedisCommand>>(
        _ commands: Commands, timeout: Duration?, _ take: (Result<RedisValue, RedisError>) -> Void
    ) throws {
        try ensureConnected()
        guard let context else { throw RedisError.connection(reason: "not connected", mayHaveExecuted: false) }
        if let timeout { setTimeout(context, timeout + configuration.commandTimeout) }
        defer { if timeout != nil, let c = self.context { setTimeout(c, configuration.commandTimeout) } }
        let wait = timeout.map { $0 + configuration.commandTimeout } ?? configuration.commandTimeout
        configuration.roundTripObserver?(Array(commands))

        for command in commands {
            // Formatted here (RESP, as hiredis's `redisFormatCommandArgv` spells it) and handed over
            // whole: hiredis copies it into its output buffer, with no `sds` of its own per command.
            let status = command.arguments.withRESP { bytes in
                redisAppendFormattedCommand(context, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count)
            }
            guard status == REDIS_OK else { throw fail(context, mayHaveExecuted: false) }
        }
        for _ in 0..<commands.count {
            // The reply is built by `replies` as hiredis reads it; the object handed back is only a token.
            var token: UnsafeMutableRawPointer?
            guard nextReply(context, &token, waiting: wait) == REDIS_OK, token != nil else {
                throw fail(context, mayHaveExecuted: true)
            }
            do {
                take(try replies.take())
            } catch {
                close()
                throw error
            }
        }
    }

    /// `redisGetReply` for a blocking context — flush the output, then read until a reply is whole —
    /// except that on a Unix socket the thread waits for the reply in `poll(POLLIN)` rather than in a
    /// blocking `read`: a reader asleep in a Unix-socket `read` is woken each time the server takes
    /// in what this connection wrote (the kernel's write-space wake reaches every waiter on the
    /// socket), finds nothing and sleeps again — a context switch per command more than needed,
    /// whenever the server reads the command after this thread went to sleep. `poll` is woken only
    /// for what it asked (input, hang-up, error). Each wait is bounded by `waiting`, as the socket's
    /// receive timeout bounds a `read` (which stays set: TCP connections still read through it).
    private func nextReply(_ context: UnsafeMutablePointer<redisContext>, _ reply: inout UnsafeMutableRawPointer?,
                           waiting: Duration) -> Int32 {
        guard configuration.socketPath != nil else { return redisGetReply(context, &reply) }
        // A reply already read (the next of a pipeline's) needs no wait.
        guard redisGetReplyFromReader(context, &reply) == REDIS_OK else { return REDIS_ERR }
        if reply != nil { return REDIS_OK }
        var done: Int32 = 0
        repeat {
            guard redisBufferWrite(context, &done) == REDIS_OK else { return REDIS_ERR }
        } while done == 0
        repeat {
            guard Self.awaitInput(context, waiting), redisBufferRead(context) == REDIS_OK,
                  redisGetReplyFromReader(context, &reply) == REDIS_OK else { return REDIS_ERR }
        } while reply == nil
        return REDIS_OK
    }

    /// Waits up to `limit` for input (or a hang-up or error, which the read then reports); false,
    /// with the context's error set as a timed-out read sets it, when none came.
    private static func awaitInput(_ context: UnsafeMutablePointer<redisContext>, _ limit: Duration) -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        var pfd = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        while true {
            let left = deadline - clock.now
            // Rounded up: a wait cut short by rounding would time out before its limit.
            let ready = poll(&pfd, 1, left <= .zero ? 0 : Int32(clamping: left.milliseconds + 1))
            if ready > 0 { return true }
            if ready < 0 && errno == EINTR { continue }
            let message = ready == 0 ? "Resource temporarily unavailable" : String(cString: strerror(errno))
            context.pointee.err = REDIS_ERR_IO
            withUnsafeMutableBytes(of: &context.pointee.errstr) { raw in
                let count = min(message.utf8.count, raw.count - 1)
                raw.copyBytes(from: message.utf8.prefix(count))
                raw[count] = 0
            }
            return false
        }
    }

    /// Records the context's error, drops the connection and returns the error to throw.
    private func fail(_ context: UnsafeMutablePointer<redisContext>, mayHaveExecuted: Bool) -> RedisError {
        let reason = Self.errorText(context)
        close()
        return .connection(reason: reason, mayHaveExecuted: mayHaveExecuted)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "error \(context.pointee.err)" : text
        }
    }

    // MARK: - Connecting

    /// Makes sure a usable connection is held before a command is written.
    private func ensureConnected() throws {
        if let context {
            if Self.peerClosed(context.pointee.fd) { close() } else { return }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.reconnectWindow
        var delay = Duration.milliseconds(25)
        while true {
            do {
                try connectOnce()
                return
            } catch let error as RedisError where error.isConnectionError {
                guard clock.now + delay < deadline else { throw error }
                Thread.sleep(forTimeInterval: delay.seconds)
                delay = min(delay * 2, .seconds(1))
            }
        }
    }

    private func connectOnce() throws {
        let tv = Self.timeval(configuration.connectTimeout)
        let raw: UnsafeMutablePointer<redisContext>? =
            if let path = configuration.socketPath {
                redisConnectUnixWithTimeout(path, tv)
            } else {
                redisConnectWithTimeout(configuration.host, Int32(configuration.port), tv)
            }
        guard let raw else { throw RedisError.connection(reason: "out of memory creating a context", mayHaveExecuted: false) }
        if raw.pointee.err != 0 {
            let reason = "cannot connect to \(configuration): \(Self.errorText(raw))"
            redisFree(raw)
            throw RedisError.connection(reason: reason, mayHaveExecuted: false)
        }
        setTimeout(raw, configuration.commandTimeout)
        if configuration.socketPath == nil { _ = redisEnableKeepAlive(raw) }
        replies.reset()
        replies.attach(to: raw.pointee.reader)
        context = raw

        var handshake: [RedisCommand] = []
        if let password = configuration.password {
            if let user = configuration.username {
                handshake.append(RedisCommand("AUTH", user, password))
            } else {
                handshake.append(RedisCommand("AUTH", password))
            }
        }
        if configuration.database != 0 { handshake.append(RedisCommand("SELECT", configuration.database)) }
        if let name = configuration.clientName { handshake.append(RedisCommand("CLIENT", "SETNAME", name)) }
        // A server restarting with AOF accepts connections but refuses every command with LOADING
        // until its dataset is read back: until then the connection is not ready, and connecting
        // is retried within the reconnect window like a refused connection.
        handshake.append(RedisCommand("PING"))
        do {
            var results: [Result<RedisValue, RedisError>] = []
            try exchange(handshake, timeout: nil) { results.append($0) }
            for result in results { _ = try result.get() }
        } catch let error as RedisError where error.serverCode == "LOADING" {
            close()
            throw RedisError.connection(reason: "\(configuration) is loading its dataset", mayHaveExecuted: false)
        } catch {
            close()
            throw error
        }
    }

    private func setTimeout(_ context: UnsafeMutablePointer<redisContext>, _ duration: Duration) {
        _ = redisSetTimeout(context, Self.timeval(duration))
    }

    private static func timeval(_ duration: Duration) -> timeval {
        let micros = max(duration.milliseconds, 1) * 1000
        return Glibc.timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
    }

    /// True when an idle socket is readable or hung up: RESP2 servers never speak unasked, so this
    /// means the server closed the connection (restart, timeout, CLIENT KILL).
    private static func peerClosed(_ fd: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, 0)
        if ready < 0 { return true }
        return ready > 0 && (pfd.revents & Int16(POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0
    }
}

extension Array where Element == RedisArgument {
    /// The command in RESP, byte for byte what hiredis's `redisFormatCommandArgv` writes —
    /// `*<count>\r\n`, then per argument `$<length>\r\n<bytes>\r\n` — in one temporary buffer (on
    /// the stack when it fits), valid only inside `body`: hiredis copies it into its output buffer
    /// there. Each argument's bytes are copied once, from where they are held. (hiredis's own
    /// formatting built an `sds` per command with a `printf`-style call per argument: ~14,000
    /// instructions an order.)
    func withRESP<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var total = 1 + RESP.digits(count) + 2
        for argument in self {
            let length = argument.count
            total += 1 + RESP.digits(length) + 2 + length + 2
        }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: total) { buffer in
            let out = buffer.baseAddress!
            var offset = RESP.header(UInt8(ascii: "*"), count, at: out)
            for argument in self {
                argument.withUnsafeBytes { bytes in
                    // The buffer was sized by `count`: bytes that disagree with it must stop here,
                    // not write past the buffer.
                    precondition(offset + 1 + RESP.digits(bytes.count) + 2 + bytes.count + 2 <= total,
                                 "a Redis argument's bytes differ from its count")
                    offset += RESP.header(UInt8(ascii: "$"), bytes.count, at: out + offset)
                    if let source = bytes.baseAddress { UnsafeMutableRawPointer(out + offset).copyMemory(from: source, byteCount: bytes.count) }
                    offset += bytes.count
                    out[offset] = 0x0D
                    out[offset + 1] = 0x0A
                    offset += 2
                }
            }
            precondition(offset == total, "a Redis command's RESP length differs from its bytes")
            return body(UnsafeRawBufferPointer(start: out, count: total))
        }
    }
}

/// The pieces of a RESP request.
enum RESP {
    /// Decimal digits of a count or length (≥ 0).
    @inline(__always)
    static func digits(_ value: Int) -> Int {
        var value = value, digits = 1
        while value >= 10 {
            value /= 10
            digits += 1
        }
        return digits
    }

    /// Writes `<mark><value>\r\n` at `out` and returns its length.
    @inline(__always)
    static func header(_ mark: UInt8, _ value: Int, at out: UnsafeMutablePointer<UInt8>) -> Int {
        let digits = digits(value)
        out[0] = mark
        var rest = value, index = digits
        repeat {
            out[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
            index -= 1
        } while index > 0
        out[digits + 1] = 0x0D
        out[digits + 2] = 0x0A
        return digits + 3
    }
}

extension RedisConnection {
    /// The hiredis version this build links, e.g. "0.14.1".
    public static var libraryVersion: String { "\(HIREDIS_MAJOR).\(HIREDIS_MINOR).\(HIREDIS_PATCH)" }
}
