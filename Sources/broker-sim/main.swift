import Foundation
import Logging
import TMBrokerSim
import TMCore

// broker-sim: Kite, Upstox, Alpaca and Binance on one loopback port, for tests, `make up` and benchmarks.
// Usage: broker-sim [--port N] [--demo] [--seed N] [--latency-ms N] [--tick-ms N] [--no-rate-limits] [--kite-quote-window-ms N]

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("broker-sim: \(message)\nusage: broker-sim [--port N] [--demo] [--seed N] [--latency-ms N] [--tick-ms N] [--no-rate-limits] [--kite-quote-window-ms N]\n".utf8))
    exit(2)
}

/// The configuration the command line asks for; exits with usage on anything it does not understand.
func parseOptions(_ commandLine: [String]) -> BrokerSimulator.Configuration {
    var configuration = BrokerSimulator.Configuration()
    var arguments = commandLine[...]
    func value(for option: String) -> String {
        guard let next = arguments.popFirst() else { fail("\(option) needs a value") }
        return next
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--port":
            guard let port = UInt16(value(for: argument)) else { fail("--port must be 0...65535") }
            configuration.port = port
        case "--demo": configuration.demo = true
        case "--seed":
            guard let seed = UInt64(value(for: argument)) else { fail("--seed must be a non-negative whole number") }
            configuration.seed = seed
        case "--latency-ms":
            guard let latency = Int(value(for: argument)), latency >= 0 else { fail("--latency-ms must be >= 0") }
            configuration.latencyMilliseconds = latency
        case "--tick-ms":
            guard let tick = Int64(value(for: argument)), tick > 0 else { fail("--tick-ms must be > 0") }
            configuration.tickMilliseconds = tick
        case "--no-rate-limits": configuration.rateLimits.enabled = false
        case "--kite-quote-window-ms":
            // Kite allows one quote request per second; a test may make the window shorter to allow for jitter.
            guard let window = Int(value(for: argument)), window > 0 else { fail("--kite-quote-window-ms must be > 0") }
            configuration.rateLimits.kiteQuoteWindowMilliseconds = window
        case "-h", "--help": fail("help")
        default: fail("unknown option \(argument)")
        }
    }
    return configuration
}

let configuration = parseOptions(Array(CommandLine.arguments.dropFirst()))
JSONLogHandler.bootstrap()
let logger = Logger(label: "broker-sim")
let simulator: BrokerSimulator
do {
    simulator = try BrokerSimulator(configuration: configuration, logger: logger)
} catch {
    fail("cannot start: \(error)")
}
// One unbuffered line on stdout: scripts wait for it to learn the port.
FileHandle.standardOutput.write(Data("broker-sim listening on \(simulator.baseURL)\n".utf8))
logger.info("started", metadata: ["port": "\(simulator.port)", "demo": "\(configuration.demo)", "latency_ms": "\(configuration.latencyMilliseconds)"])

let stopped = DispatchSemaphore(value: 0)
TerminationSignals.install { signal in
    logger.info("stopping", metadata: ["signal": "\(signal)"])
    simulator.stop()
    stopped.signal()
}
stopped.wait()
logger.info("stopped")
