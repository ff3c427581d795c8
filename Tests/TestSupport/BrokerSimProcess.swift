import Foundation

/// broker-sim as a child process on a free loopback port (`--port 0`), for tests that talk to the
/// brokers over real HTTP. The one launcher every harness uses; the admin calls stay with each
/// harness (they speak TMHTTP, which this module does not link).
///
/// Guarantees: `init` returns once broker-sim printed its address, or throws (and kills it) within
/// 20 s; the process is SIGKILLed at the latest when the test process exits (`ChildProcess`).
public struct BrokerSimProcess: Sendable {
    public let process: ChildProcess
    /// e.g. `http://127.0.0.1:41234`; a broker's API is under `/<broker>`, the admin API under `/admin`.
    public let base: String
    public let port: Int

    /// - Parameters:
    ///   - arguments: more of broker-sim's options, e.g. `--no-rate-limits`.
    ///   - logFile: where its output also goes (kept for a failing test's reader).
    public init(arguments: [String] = [], logFile: String? = nil) throws {
        let simulator = TestServers.productsDirectory.appendingPathComponent("broker-sim").path
        process = try ChildProcess(simulator, ["--port", "0"] + arguments, captureOutput: true, logFile: logFile)
        var seen = ""
        let deadline = ContinuousClock.now + .seconds(20)
        while !seen.contains("listening on"), ContinuousClock.now < deadline {
            let chunk = process.output!.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        guard let range = seen.range(of: "http://127.0.0.1:[0-9]+", options: .regularExpression) else {
            process.terminate(grace: .seconds(5))
            throw Timeout(what: "broker-sim to listen (saw '\(seen)')")
        }
        base = String(seen[range])
        port = Int(base.split(separator: ":").last!)!
    }

    public func stop() { process.terminate(grace: .seconds(5)) }
}
