import Foundation
import TMCore
import TMDatabase
import TMHTTP
import TMPostgres

/// The value after `name` on the command line, or `fallback`.
public func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return fallback }
    return args[i + 1]
}

/// broker-sim for a benchmark: the binary next to the running one, on a free port, with its admin API.
public final class BenchBrokerSim {
    public let url: String
    private let process: Subprocess
    private let admin: HTTPClient

    /// Starts `broker-sim --port 0` plus `arguments` and reads the address it prints.
    public init(arguments: [String]) throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        process = try Subprocess(bin.appendingPathComponent("broker-sim").path, ["--port", "0"] + arguments, stdout: .pipe, stderr: .null)
        var banner = [UInt8](repeating: 0, count: 256)
        let n = read(process.stdoutFD, &banner, banner.count)
        let text = n > 0 ? String(decoding: banner[0..<n], as: UTF8.self) : ""
        guard let range = text.range(of: "http://127.0.0.1:[0-9]+", options: .regularExpression) else {
            _ = process.terminate(grace: .seconds(1))
            throw ConfigurationError(variable: "broker-sim", reason: "did not start")
        }
        url = String(text[range])
        admin = try HTTPClient()
    }

    /// POSTs a JSON body to the admin API (e.g. `/admin/accounts`); throws unless it answers 2xx.
    public func post(_ path: String, _ body: String) throws {
        let response = try admin.send(HTTPRequest(.post, url + path, body: .json(Data(body.utf8))))
        guard response.status < 300 else { throw ConfigurationError(variable: "broker-sim", reason: "\(path): \(String(decoding: response.body, as: UTF8.self))") }
    }

    public func stop() { _ = process.terminate(grace: .seconds(5)) }
}

/// A database of the benchmark's own on the configured server, migrated; `drop()` removes it.
public struct BenchDatabase: Sendable {
    public let configuration: PostgresConfiguration
    private let server: PostgresConfiguration

    /// Creates `<prefix>_<pid>` and migrates it.
    public init(prefix: String, environment: TMEnvironment) throws {
        var server = try PostgresConfiguration.fromEnvironment(environment)
        server.database = "postgres"
        self.server = server
        var configuration = server
        configuration.database = "\(prefix)_\(getpid())"
        self.configuration = configuration
        let admin = try PostgresConnection(configuration: server)
        defer { admin.close() }
        try admin.simpleQuery("CREATE DATABASE \(configuration.database)")
        let db = try PostgresConnection(configuration: configuration)
        defer { db.close() }
        try Migrator(connection: db, migrations: try MigrationCatalog.bundled()).migrate()
    }

    /// The URL the system's processes take (TM_DATABASE_URL).
    public var url: String { configuration.url }

    public func drop() {
        guard let admin = try? PostgresConnection(configuration: server) else { return }
        try? admin.simpleQuery("DROP DATABASE IF EXISTS \(configuration.database) WITH (FORCE)")
        admin.close()
    }
}
