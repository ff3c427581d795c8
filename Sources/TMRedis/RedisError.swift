/// Everything that can go wrong talking to Redis, classified so callers can decide to retry.
///
/// - `server`: Redis answered with an error reply (e.g. `WRONGTYPE`, `NOSCRIPT`, `BUSYGROUP`).
///   The command reached Redis and was refused; the connection is still good.
/// - `connection`: the connection failed or timed out. `mayHaveExecuted` is true when the command
///   had been written before the failure, so it may or may not have run.
/// - `protocolViolation`: a reply that could not be understood (the connection is discarded).
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    case server(code: String, message: String)
    case connection(reason: String, mayHaveExecuted: Bool)
    case protocolViolation(String)
    case unexpectedReply(command: String, reply: String)

    /// The error code of a server error reply: `NOSCRIPT`, `BUSYGROUP`, `ERR`, ...
    public var serverCode: String? {
        if case .server(let code, _) = self { return code }
        return nil
    }

    public var isConnectionError: Bool {
        if case .connection = self { return true }
        return false
    }

    static func fromReply(_ text: String) -> RedisError {
        let code = text.prefix { $0 != " " }
        let isCode = !code.isEmpty && code.allSatisfy { $0.isUppercase || $0 == "_" || $0.isNumber }
        return .server(code: isCode ? String(code) : "ERR", message: text)
    }

    public var description: String {
        switch self {
        case .server(_, let message): return "Redis error: \(message)"
        case .connection(let reason, let mayHaveExecuted):
            return "Redis connection error: \(reason)" + (mayHaveExecuted ? " (the command may have run)" : "")
        case .protocolViolation(let reason): return "Redis protocol error: \(reason)"
        case .unexpectedReply(let command, let reply): return "unexpected reply to \(command): \(reply)"
        }
    }
}
