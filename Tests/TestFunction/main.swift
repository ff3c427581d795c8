// test-function: the function executable the runtime's tests and benchmarks invoke. Each record's
// body says what to do, so one executable can echo, fail N times, sleep past its deadline, crash,
// exit non-zero, print garbage or reject bad input:
//
//   {"mode": "echo" | "noop" | "print" | "environment" | "configuration" | "epoch" | "flood_stdout" | "flood_stderr"
//            | "fail" | "sleep" | "crash" | "exit" | "garbage" | "reject" | "error" | "defer",
//    "fail_until_attempt": N, "sleep_ms": N, "bytes": N}
//
// `environment` answers with the whole process environment (JSON), `configuration` with what
// TMEnvironment.current() resolves (environment and .tm/env), `epoch` with the record's epoch (and
// fails while attempt <= fail_until_attempt), `flood_stdout` writes `bytes` (default 100 MB) of one
// endless line on the protocol output and `flood_stderr` as many in 100-byte lines on stderr, then
// both answer normally. `defer` can do nothing until `sleep_ms` (default 500) after its enqueue: it
// fails with a deferral (`RetryDeferring`) until then.
//
// TEST_MODE sets the default mode. With TEST_TRACE_FILE, the process appends "spawn <pid>" when it
// starts and "start|end <pid> <unix ms>" around each invocation, so tests can count processes and
// measure how many invocations ran at once. With TEST_LATENCY_FILE, it appends "<sent µs> <started
// µs>" per record when an invocation starts (the function benchmark's enqueue-to-start; "sent" is
// the body's `sent_us`, else the message's enqueue time).
import Foundation
import TMCore
import TMFunctionRuntime

struct Instructions: Decodable {
    var mode: String?
    var failUntilAttempt: Int?
    var sleepMs: Int?
    var sentMicros: Int64?
    var bytes: Int?
    enum CodingKeys: String, CodingKey { case mode, failUntilAttempt = "fail_until_attempt", sleepMs = "sleep_ms", sentMicros = "sent_us", bytes }
}

struct Failing: Error, CustomStringConvertible {
    let description: String
}

struct NotYet: RetryDeferring, CustomStringConvertible {
    let retryNotBefore: Date
    var description: String { "not before \(retryNotBefore.ISO8601Format())" }
}

/// Read once: building the environment dictionary on every invocation would dominate a no-op's cost.
let testEnvironment = ProcessInfo.processInfo.environment

func trace(_ event: String) {
    guard let path = testEnvironment["TEST_TRACE_FILE"] else { return }
    appendLine(path, "\(event) \(getpid()) \(Int64(Date().timeIntervalSince1970 * 1000))")
}

/// Writes `total` bytes on `fd`, 1 MiB at a time: 100-byte lines ("xxx…\n"), or one endless line.
func flood(_ fd: Int32, total: Int, lines: Bool) {
    let line = [UInt8](repeating: UInt8(ascii: "x"), count: 99) + [UInt8(ascii: lines ? "\n" : "x")]
    let block = Array((0..<(1 << 20) / line.count).map { _ in line }.joined())
    var left = total
    while left > 0 {
        let count = min(left, block.count)
        let sent = block.withUnsafeBytes { write(fd, $0.baseAddress!, count) }
        if sent <= 0 { if errno == EINTR { continue }; return }
        left -= sent
    }
}

func json(_ object: [String: String]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

func appendLine(_ path: String, _ text: String) {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard fd >= 0 else { return }
    _ = (text + "\n").withCString { write(fd, $0, strlen($0)) }  // one O_APPEND write: not interleaved
    close(fd)
}

struct TestFunction: FunctionHandler {
    let records = RecordHandler { record, context in
        let instructions = try record.decode(Instructions.self)
        let mode = instructions.mode ?? testEnvironment["TEST_MODE"] ?? "echo"
        switch mode {
        case "echo":
            context.logger.info("echo", metadata: ["message_id": "\(record.messageID)"])
            return record.body
        case "noop":
            return nil
        case "print":
            print("a stray print from the function")  // must not corrupt the result
            return "printed"
        case "fail":
            if record.attempt <= instructions.failUntilAttempt ?? Int.max {
                throw Failing(description: "failing on purpose (attempt \(record.attempt))")
            }
            return "succeeded on attempt \(record.attempt)"
        case "sleep":
            // With fail_until_attempt, only those attempts sleep (e.g. time out once, then succeed).
            if let until = instructions.failUntilAttempt, record.attempt > until { return "no sleep on attempt \(record.attempt)" }
            // TEST_SLEEP_CAP_MS: a dispatcher standing in for a killed one finishes its sleepers at once.
            let cap = Int(testEnvironment["TEST_SLEEP_CAP_MS"] ?? "") ?? Int.max
            try await Task.sleep(for: .milliseconds(min(instructions.sleepMs ?? 60_000, cap)))
            return "slept"
        case "crash":
            context.logger.error("about to crash")
            fatalError("crashing on purpose")
        case "exit":
            exit(3)
        case "garbage":
            // Straight onto the protocol stream (a `print` would go to stderr with the logs).
            _ = "hello, this is not a result\n".withCString { write(FunctionMain.protocolOutput, $0, strlen($0)) }
            exit(0)
        case "environment":
            return try json(ProcessInfo.processInfo.environment)
        case "configuration":
            return try json(TMEnvironment.current().values)
        case "epoch":
            if record.attempt <= instructions.failUntilAttempt ?? 0 {
                throw Failing(description: "failing on purpose (attempt \(record.attempt), epoch \(record.epoch))")
            }
            return "epoch \(record.epoch) attempt \(record.attempt) fence \(record.fence.resource)"
        case "flood_stdout":
            flood(FunctionMain.protocolOutput, total: instructions.bytes ?? 100_000_000, lines: false)  // a runaway result line
            return "flooded stdout"
        case "flood_stderr":
            flood(2, total: instructions.bytes ?? 100_000_000, lines: true)
            return "flooded stderr"

        case "reject":
            throw RecordRejected("amount: must be positive")
        case "defer":
            // Nothing can be done until sleep_ms after the enqueue (a broker's circuit open until then).
            let until = Date(timeIntervalSince1970: Double(record.enqueuedAtMillis + Int64(instructions.sleepMs ?? 500)) / 1000)
            if Date() < until { throw NotYet(retryNotBefore: until) }
            return "ran after its deferral"
        default:
            throw RecordRejected("mode: unknown mode '\(mode)'")
        }
    }

    func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        trace("start")
        if let path = testEnvironment["TEST_LATENCY_FILE"] {
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            appendLine(path, request.records.map { record in
                let sent = (try? record.decode(Instructions.self))?.sentMicros ?? record.enqueuedAtMillis * 1000
                return "\(sent) \(now)"
            }.joined(separator: "\n"))
        }
        defer { trace("end") }
        if request.records.contains(where: { $0.body.contains("\"mode\":\"error\"") }) {
            return .failed("the whole batch failed on purpose", retryable: true)
        }
        return await records.handle(request, context: context)
    }
}

trace("spawn")
if ProcessInfo.processInfo.environment["TEST_IGNORE_SIGTERM"] == "1" { signal(SIGTERM, SIG_IGN) }
await FunctionMain.run(TestFunction())
