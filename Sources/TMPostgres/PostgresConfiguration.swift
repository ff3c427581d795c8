import Foundation
import TMCore

/// Where and how to connect to Postgres.
///
/// Guarantees: values reach libpq as separate keyword/value pairs (never a concatenated conninfo
/// string), so a password or database name cannot inject extra connection options; `description`
/// never shows the password; every session starts with `DateStyle=ISO`, `TimeZone=UTC`,
/// `bytea_output=hex` and UTF-8, which the decoders rely on.
public struct PostgresConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// The TLS modes libpq understands.
    public static let sslModes: Set<String> = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

    /// A host name, an IP address, or (starting with `/`) a directory holding the Unix socket.
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// One of `sslModes`; nil leaves libpq's default (`prefer`).
    public var sslMode: String?
    /// How long libpq waits to establish a connection. Whole seconds; libpq cannot do finer.
    public var connectTimeout: Duration
    /// Shown in `pg_stat_activity`, so operators can tell which process holds a connection.
    public var applicationName: String
    /// Further libpq keywords (e.g. `sslrootcert`), passed through unchanged.
    public var extraParameters: [String: String]

    public init(
        host: String = "127.0.0.1", port: Int = 5432, user: String = "postgres", password: String? = nil,
        database: String = "postgres", sslMode: String? = nil, connectTimeout: Duration = .seconds(5),
        applicationName: String = PostgresConfiguration.defaultApplicationName,
        extraParameters: [String: String] = [:]
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
        self.extraParameters = extraParameters
    }

    /// The executable's name, prefixed so every connection of the platform is recognisable.
    public static var defaultApplicationName: String {
        "tm:" + (ProcessInfo.processInfo.processName.isEmpty ? "client" : ProcessInfo.processInfo.processName)
    }

    /// Query parameters accepted in a URL besides `sslmode`, `connect_timeout`, `application_name`
    /// and `host`; anything else is rejected rather than silently ignored.
    static let passThroughParameters: Set<String> = [
        "sslrootcert", "sslcert", "sslkey", "sslcrl", "target_session_attrs", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    ]

    /// Parses `postgres://user:password@host:port/dbname?sslmode=...&connect_timeout=...`
    /// (`postgresql://` too). User, password and database are percent-decoded; a bracketed IPv6
    /// host and a percent-encoded socket directory as host (`%2Fvar%2Frun%2Fpostgresql`) work.
    /// Throws a `.configuration` error naming the bad part (never echoing the password).
    public init(url: String) throws {
        let text = url.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let schemeEnd = text.range(of: "://") else {
            throw PostgresError.configuration("database URL: scheme missing; expected postgres://user:password@host:port/dbname")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw PostgresError.configuration("database URL: scheme '\(scheme)' is not postgres:// or postgresql://")
        }
        var rest = Substring(text[schemeEnd.upperBound...])

        // The last '@' separates credentials, so an unencoded '@' in a password still parses.
        var userPart: Substring?
        var passwordPart: Substring?
        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        if let at = rest[..<queryStart].lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                userPart = credentials[..<colon]
                passwordPart = credentials[credentials.index(after: colon)...]
            } else {
                userPart = credentials
            }
        }

        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var pathPart: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            pathPart = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        let hostPort = rest

        var config = PostgresConfiguration()
        config.applicationName = PostgresConfiguration.defaultApplicationName

        if let userPart {
            let user = try Self.decode(userPart, field: "user")
            if !user.isEmpty { config.user = user }
        }
        if let passwordPart {
            // Never echo the password, even in the error about it.
            guard let password = passwordPart.removingPercentEncoding else {
                throw PostgresError.configuration("database URL: password has invalid percent-encoding")
            }
            config.password = password.isEmpty ? nil : password
        }

        // host[:port], or [ipv6][:port]
        var hostText: Substring = hostPort
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw PostgresError.configuration("database URL: host has an unclosed '[' (IPv6 address)")
            }
            hostText = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw PostgresError.configuration("database URL: unexpected text after the IPv6 host")
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            hostText = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        }
        if hostText.contains(",") {
            throw PostgresError.configuration("database URL: host: multiple hosts are not supported")
        }
        let host = try Self.decode(hostText, field: "host")
        if !host.isEmpty { config.host = host }
        if let portText {
            config.port = try Self.parsePort(String(portText), field: "port")
        }

        let database = try Self.decode(pathPart, field: "database name")
        if database.contains("/") {
            throw PostgresError.configuration("database URL: database name must not contain '/'")
        }
        config.database = database.isEmpty ? config.user : database

        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let key: String
            let value: String
            if let eq = pair.firstIndex(of: "=") {
                key = try Self.decode(pair[..<eq], field: "query parameter name")
                value = try Self.decode(pair[pair.index(after: eq)...], field: "query parameter '\(key)'")
            } else {
                key = try Self.decode(pair, field: "query parameter name")
                value = ""
            }
            switch key {
            case "sslmode":
                guard Self.sslModes.contains(value) else {
                    throw PostgresError.configuration(
                        "database URL: sslmode '\(value)' is not one of \(Self.sslModes.sorted().joined(separator: ", "))")
                }
                config.sslMode = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds >= 0 else {
                    throw PostgresError.configuration("database URL: connect_timeout '\(value)' is not a whole number of seconds")
                }
                config.connectTimeout = .seconds(seconds)
            case "application_name":
                config.applicationName = value
            case "host":
                guard !value.isEmpty else { throw PostgresError.configuration("database URL: query parameter host is empty") }
                config.host = value
            case "port":
                config.port = try Self.parsePort(value, field: "query parameter port")
            case "user":
                config.user = value
            case "dbname":
                config.database = value
            case "password":
                throw PostgresError.configuration("database URL: put the password in the user-info part, not the query")
            default:
                guard Self.passThroughParameters.contains(key) else {
                    throw PostgresError.configuration("database URL: unknown query parameter '\(key)'")
                }
                config.extraParameters[key] = value
            }
        }
        self = config
    }

    /// Reads `TM_DATABASE_URL`. Throws `ConfigurationError` naming the variable when it is missing or invalid.
    public static func fromEnvironment(_ env: TMEnvironment = .current()) throws -> PostgresConfiguration {
        let variable = "TM_DATABASE_URL"
        guard let url = env[variable], !url.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigurationError(variable: variable, reason: "not set; expected postgres://user:password@host:port/dbname")
        }
        do {
            return try PostgresConfiguration(url: url)
        } catch let error as PostgresError {
            throw ConfigurationError(variable: variable, reason: error.message)
        }
    }

    /// The keyword/value pairs handed to `PQconnectdbParams`.
    var libpqParameters: [(String, String)] {
        var pairs: [(String, String)] = [
            ("host", host),
            ("port", String(port)),
            ("user", user),
            ("dbname", database),
            ("connect_timeout", String(max(0, Int(connectTimeout.components.seconds)))),
            ("application_name", applicationName),
            ("client_encoding", "UTF8"),
            // The decoders parse ISO timestamps and hex bytea; pin them per session.
            ("options", "-c DateStyle=ISO,MDY -c TimeZone=UTC -c bytea_output=hex"),
        ]
        if let password { pairs.append(("password", password)) }
        if let sslMode { pairs.append(("sslmode", sslMode)) }
        for (key, value) in extraParameters.sorted(by: { $0.key < $1.key }) { pairs.append((key, value)) }
        return pairs
    }

    /// The URL `init(url:)` parses back to this configuration, for a process this one starts
    /// (`TM_DATABASE_URL`): every part percent-encoded, so a socket directory as host
    /// (`%2Fvar%2Frun%2Fpostgresql`), a password or a database name with `@ : / ? &` survive.
    /// It holds the password: never log it (`description` is the loggable form). Not carried:
    /// `applicationName` (each process names itself) and a connect timeout's fraction of a second.
    public var url: String {
        var credentials = Self.encode(user)
        if let password { credentials += ":" + Self.encode(password) }
        var query: [(String, String)] = []
        if let sslMode { query.append(("sslmode", sslMode)) }
        if connectTimeout != PostgresConfiguration().connectTimeout {
            query.append(("connect_timeout", String(max(0, connectTimeout.components.seconds))))
        }
        for (key, value) in extraParameters.sorted(by: { $0.key < $1.key }) { query.append((key, value)) }
        let queryText = query.isEmpty ? "" : "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return "postgres://\(credentials)@\(hostText):\(port)/\(Self.encode(database))\(queryText)"
    }

    /// The host as a URL carries it: an IPv6 address bracketed, anything else percent-encoded (a
    /// socket directory's slashes would otherwise run into the port and the path).
    private var hostText: String { host.contains(":") ? "[\(host)]" : Self.encode(host) }

    private static func encode(_ text: String) -> String { URLText.percentEncoded(text) }

    /// The loggable form: `url` without its query and with the password masked.
    public var description: String {
        let credentials = Self.encode(user) + (password == nil ? "" : ":***")
        return "postgres://\(credentials)@\(hostText):\(port)/\(Self.encode(database))"
    }

    private static func decode(_ part: Substring, field: String) throws -> String {
        guard let decoded = part.removingPercentEncoding else {
            throw PostgresError.configuration("database URL: \(field) has invalid percent-encoding")
        }
        return decoded
    }

    private static func parsePort(_ text: String, field: String) throws -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw PostgresError.configuration("database URL: \(field) '\(text)' is not a number between 1 and 65535")
        }
        return port
    }
}
