import Foundation
import TMCore

/// The servers the test harness (`make test`, i.e. `scripts/tm-servers.sh up test`) started.
///
/// Tests read their addresses from `.tm/test/env` (or `TM_ENV_FILE`), never from the developer's
/// `.tm/env`, so a test run cannot touch the data of `make up`. Tests that must kill or restart a
/// server use `EphemeralRedis` / `EphemeralPostgres` instead, so they never disturb other tests.
public enum TestServers {
    /// The checkout's top folder, found from this source file's path.
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    public static let environment: TMEnvironment = {
        let process = ProcessInfo.processInfo.environment
        let file = process["TM_ENV_FILE"] ?? repositoryRoot.appendingPathComponent(".tm/test/env").path
        return TMEnvironment(process: process, envFile: file)
    }()

    /// `TM_REDIS_URL` of the harness's Redis.
    public static var redisURL: String { get throws { try required("TM_REDIS_URL") } }

    /// `TM_DATABASE_URL` of the harness's PostgreSQL.
    public static var databaseURL: String { get throws { try required("TM_DATABASE_URL") } }

    private static func required(_ key: String) throws -> String {
        guard let value = environment[key] else {
            throw ConfigurationError(
                variable: key,
                reason: "not set: run `make test`, or `scripts/tm-servers.sh up test` before `swift test`")
        }
        return value
    }

    /// A name unique to this process and call, for keys, tables and databases tests create.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Where the test products were built (for tests that run the `tm` executable).
    public static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }
}

/// Runs a command to completion on a thread of its own and returns its exit status and output.
///
/// The async form is the one async tests get: waiting for a child on one of the two cooperative
/// threads of a 2-core machine would stall every other test's async work in the meantime.
@discardableResult
public func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil
) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runProcessBlocking(executable, arguments, environment: environment) }) }.start()
    }
}

/// Runs a command to completion and returns its exit status and output; for synchronous callers.
@discardableResult
public func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil
) throws -> (status: Int32, output: String) {
    try runProcessBlocking(executable, arguments, environment: environment)
}

private func runProcessBlocking(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil
) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A free TCP port on 127.0.0.1, as chosen by the kernel (bound, then released).
public func freeLoopbackPort() throws -> Int {
    let (fd, port) = try LoopbackSocket.bind()
    close(fd)
    return Int(port)
}
