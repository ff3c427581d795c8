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

/// Handles the records of a batch one at a time; an error fails only its record (retryable unless
/// it says otherwise through `RetryClassifying`), so the batch result is ok or partial.
public struct RecordHandler: FunctionHandler {
    public typealias Body = @Sendable (InvocationRecord, FunctionContext) async throws -> String?
    private let body: Body

    public init(_ body: @escaping Body) { self.body = body }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        var failures: [InvocationResult.Failure] = []
        var results: [String: String] = [:]
        for record in request.records {
            do {
                if let result = try await body(record, context) { results[record.messageID] = result }
            } catch {
                let retryable = (error as? RetryClassifying)?.isRetryable ?? true
                context.logger.warning("record failed", metadata: ["message_id": "\(record.messageID)", "error": "\(error)", "retryable": "\(retryable)"])
                failures.append(.init(messageID: record.messageID, error: "\(error)", retryable: retryable))
            }
        }
        return .from(failures: failures, results: results)
    }
}
