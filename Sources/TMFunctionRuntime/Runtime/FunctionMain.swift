import Foundation
import Logging
import TMCore

/// The function side of the invocation protocol: what `Functions/<name>/main.swift` calls.
///
/// Cold (the default): reads one request from stdin, runs the handler, prints one result on stdout
/// and exits 0. Warm (`TM_WARM=1`): reads one request per line and answers each with one result
/// line, until stdin closes. Logs are JSON lines on stderr; stdout carries nothing but results, so
/// a stray `print` cannot corrupt the protocol silently (the dispatcher reports it as garbage).
///
/// `beforeExit` runs after the last answer, before the process exits (work a handler left running
/// after answering, e.g. announcements, finishes instead of being cut off mid-call).
///
/// Guarantees: a request that cannot be read is answered with a non-retryable error result (the
/// dispatcher and the function disagree about the protocol; retrying would not help).
public enum FunctionMain {
    public static func run(_ handler: some FunctionHandler, beforeExit: @Sendable () async -> Void = {}) async -> Never {
        // Results go to the real stdout; anything else printing to stdout (a stray `print`, a
        // library) lands on stderr with the logs instead of corrupting the protocol.
        resultFD = dup(1)
        dup2(2, 1)
        JSONLogHandler.bootstrap()
        let environment = ProcessInfo.processInfo.environment
        let logger = Logger(label: "tm.function.\(environment["TM_FUNCTION"] ?? "unknown")")
        if environment["TM_WARM"] == "1" {
            while let line = readLine(strippingNewline: true) {
                guard !line.isEmpty else { continue }
                write(await answer(Array(line.utf8), handler: handler, logger: logger))
            }
            await beforeExit()
            exit(0)
        }
        let input = FileHandle.standardInput.readDataToEndOfFile()
        write(await answer(Array(input), handler: handler, logger: logger))
        await beforeExit()
        exit(0)
    }

    static func answer(_ bytes: [UInt8], handler: some FunctionHandler, logger: Logger) async -> InvocationResult {
        let request: InvocationRequest
        do {
            request = try InvocationRequest(line: bytes)
        } catch {
            logger.error("cannot read the invocation request", metadata: ["error": "\(error)"])
            return .failed("cannot read the invocation request: \(error)", retryable: false)
        }
        return await handler.handle(request, context: FunctionContext(request: request, logger: logger))
    }

    nonisolated(unsafe) static var resultFD: Int32 = 1

    /// The descriptor results are written to (the process's original stdout), for functions and
    /// tests that must speak the protocol by hand.
    public static var protocolOutput: Int32 { resultFD }

    static func write(_ result: InvocationResult) {
        let line = (try? result.encodedLine()) ?? Array("{\"status\":\"error\",\"error\":\"result could not be encoded\"}\n".utf8)
        line.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(resultFD, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}
