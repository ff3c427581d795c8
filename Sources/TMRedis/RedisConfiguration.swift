import Foundation
import TMCore

/// Where and how to reach Redis, parsed from a `redis://[user:password@]host:port/db` URL.
///
/// Guarantees: a malformed URL is rejected at parse time with an error naming the part that is
/// wrong; the password never appears in `description`.
public struct RedisConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// A Unix socket path; when set, connections use it and `host` and `port` only name the same
    /// server's TCP address (a `unix://` URL's `host` and `port` options) for code that must hand
    /// a `redis://` URL on (a process on another machine, a TCP-only tool).
    public var socketPath: String?
    public var username: String?
    public var password: String?
    public var database: Int
    public var connectTimeout: Duration
    /// How long a single command (or a pipeline's replies) may take before the connection is
    /// treated as broken. Blocking commands pass their own, longer timeout.
    public var commandTimeout: Duration
    /// How long a command waits for a server that went away to come back before giving up.
    public var reconnectWindow: Duration
    /// Sent as CLIENT SETNAME so operators can tell connections apart in CLIENT LIST.
    public var clientName: String?
    /// Sees the commands of every round trip (a pipeline as one call) before they are written:
    /// for tracing, and for tests that check what goes to Redis together (e.g. one hash slot per
    /// pipeline). Called on the connection's thread; it must be quick and must not throw.
    public var roundTripObserver: (@Sendable ([RedisCommand]) -> Void)?

    public init(
        host: String = "127.0.0.1", port: Int = 6379, socketPath: String? = nil,
        username: String? = nil, password: String? = nil, database: Int = 0,
        connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5),
        reconnectWindow: Duration = .seconds(10), clientName: String? = nil
    ) {
        self.host = host
        self.port = port
        self.socketPath = socketPath
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectWindow = reconnectWindow
        self.clientName = clientName
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]` or
    /// `unix:///path/to/socket[?db=N][&host=H&port=P]` (`host`/`port`: the same server over TCP,
    /// kept in `host` and `port`; the socket is what connections use).
    public init(url: String) throws {
        self.init()
        func invalid(_ reason: String) -> ConfigurationError {
            ConfigurationError(variable: "TM_REDIS_URL", reason: reason)
        }
        guard let components = URLComponents(string: url) else {
            throw invalid("not a URL (expected redis://[user:password@]host:port/db)")
        }
        switch components.scheme?.lowercased() {
        case "redis":
            guard let host = components.host, !host.isEmpty else {
                throw invalid("the host is missing (expected redis://host:port/db)")
            }
            self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
            if let port = components.port {
                guard (1...65535).contains(port) else { throw invalid("port \(port) is out of range") }
                self.port = port
            }
            let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else {
                    throw invalid("the database '\(path)' is not a non-negative number")
                }
                self.database = db
            }
        case "unix":
            guard !components.path.isEmpty else { throw invalid("the socket path is missing") }
            self.socketPath = components.path
        case "rediss":
            throw invalid("TLS (rediss://) is not supported by this build; use redis:// on a private network or a TLS proxy")
        case let other:
            throw invalid("unsupported scheme '\(other ?? "")' (expected redis:// or unix://)")
        }
        if let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty {
            self.username = user
        }
        if let password = components.percentEncodedPassword?.removingPercentEncoding, !password.isEmpty {
            self.password = password
        }
        for item in components.queryItems ?? [] {
            guard let value = item.value else { continue }
            switch item.name {
            case "db":
                guard let db = Int(value), db >= 0 else { throw invalid("db=\(value) is not a non-negative number") }
                self.database = db
            case "connect_timeout_ms":
                guard let ms = Int(value), ms > 0 else { throw invalid("connect_timeout_ms=\(value) is not a positive number") }
                self.connectTimeout = .milliseconds(ms)
            case "timeout_ms":
                guard let ms = Int(value), ms > 0 else { throw invalid("timeout_ms=\(value) is not a positive number") }
                self.commandTimeout = .milliseconds(ms)
            case "host" where socketPath != nil:
                guard !value.isEmpty else { throw invalid("host= is empty") }
                self.host = value
            case "port" where socketPath != nil:
                guard let port = Int(value), (1...65535).contains(port) else { throw invalid("port=\(value) is out of range") }
                self.port = port
            default:
                let known = socketPath == nil ? "db, connect_timeout_ms, timeout_ms" : "db, connect_timeout_ms, timeout_ms, host, port"
                throw invalid("unknown option '\(item.name)' (known: \(known))")
            }
        }
    }

    /// Reads `TM_REDIS_URL`, defaulting to `redis://127.0.0.1:6379/0`.
    public static func fromEnvironment(_ environment: TMEnvironment = .current()) throws -> RedisConfiguration {
        try RedisConfiguration(url: environment["TM_REDIS_URL"] ?? "redis://127.0.0.1:6379/0")
    }

    /// The URL `init(url:)` parses back to this configuration, for a process this one starts
    /// (`TM_REDIS_URL`): `unix://` with the socket path, the database and the TCP address
    /// (`host=`, `port=`) when `socketPath` is set, else `redis://`; credentials and the
    /// timeouts (as whole milliseconds) included. It holds the password: never log it
    /// (`description` is the loggable form). Not carried: `reconnectWindow`, `clientName`, the observer.
    public var url: String {
        let defaults = RedisConfiguration()
        var credentials = ""
        if username != nil || password != nil {
            credentials = Self.encode(username ?? "") + (password.map { ":" + Self.encode($0) } ?? "") + "@"
        }
        var query: [(String, String)] = []
        if connectTimeout != defaults.connectTimeout { query.append(("connect_timeout_ms", String(Self.milliseconds(connectTimeout)))) }
        if commandTimeout != defaults.commandTimeout { query.append(("timeout_ms", String(Self.milliseconds(commandTimeout)))) }
        let address: String
        if let socketPath {
            let path = URLText.percentEncoded(socketPath, keeping: "/")
            address = "unix://\(credentials)\(credentials.isEmpty ? "" : "localhost")\(path)"
            query.insert(contentsOf: [("db", String(database)), ("host", host), ("port", String(port))], at: 0)
        } else {
            let hostText = host.contains(":") ? "[\(host)]" : Self.encode(host)
            address = "redis://\(credentials)\(hostText):\(port)/\(database)"
        }
        return address + (query.isEmpty ? "" : "?" + query.map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: "&"))
    }

    private static func encode(_ text: String) -> String { URLText.percentEncoded(text) }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    public var description: String {
        if let socketPath { return "unix://\(socketPath)?db=\(database)" }
        let auth = password == nil ? (username.map { "\($0)@" } ?? "") : "\(username ?? ""):***@"
        return "redis://\(auth)\(host):\(port)/\(database)"
    }
}
