import Foundation
import Logging
import TMCore

/// What a handler knows about the invocation it is running.
public struct FunctionContext: Sendable {
    public let invocationID: String
    public let function: String
    public let attempt: Int
    /// Past this instant the dispatcher sends SIGTERM: stop starting new work well before it.
    public let deadline: Date
    /// Writes JSON lines on stderr, tagged with the invocation id (the dispatcher keeps them with it).
    public let logger: Logger

    public init(request: InvocationRequest, logger base: Logger) {
        invocationID = request.invocationID
        function = request.function
        attempt = request.attempt
        deadline = request.deadline
        var logger = base
        logger[metadataKey: "invocation_id"] = .string(request.invocationID)
        self.logger = logger
    }

    /// Time left before the deadline (zero when past it).
    public var remaining: Duration {
        let seconds = max(deadline.timeIntervalSinceNow, 0)
        return .milliseconds(Int64(seconds * 1000))
    }
}

/// A function's logic: one batch in, one result out. Library targets implement it so that tests,
/// the dispatcher's warm mode and resident workers can host the same code.
public protocol FunctionHandler: Sendable {
    func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult
}

/// Handles the records of a batch, `concurrency` at a time (default one by one, in order); an
/// error fails only its record (retryable unless it says otherwise through `RetryClassifying`), so
/// the batch result is ok or partial.
public struct RecordHandler: FunctionHandler {
    public typealias Body = @Sendable (InvocationRecord, FunctionContext) async throws -> String?
    private let body: Body
    private let concurrency: Int

    public init(concurrency: Int = 1, _ body: @escaping Body) {
        self.body = body
        self.concurrency = max(1, concurrency)
    }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        var failures: [InvocationResult.Failure] = []
        var results: [String: String] = [:]
        await withTaskGroup(of: (String, Result<String?, any Error>).self) { group in
            var pending = request.records.makeIterator()
            func startNext() -> Bool {
                guard let record = pending.next() else { return false }
                group.addTask { (record.messageID, await Result(catching: { try await body(record, context) })) }
                return true
            }
            for _ in 0..<concurrency where !startNext() { break }
            while let (id, outcome) = await group.next() {
                switch outcome {
                case .success(let result): if let result { results[id] = result }
                case .failure(let error):
                    let retryable = (error as? RetryClassifying)?.isRetryable ?? true
                    context.logger.warning("record failed", metadata: ["message_id": "\(id)", "error": "\(error)", "retryable": "\(retryable)"])
                    let notBefore = (error as? RetryDeferring).map { Int64(($0.retryNotBefore.timeIntervalSince1970 * 1000).rounded(.up)) }  // never early
                    failures.append(.init(messageID: id, error: "\(error)", retryable: retryable, notBeforeMillis: notBefore))
                }
                _ = startNext()
            }
        }
        return .from(failures: failures, results: results)
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
