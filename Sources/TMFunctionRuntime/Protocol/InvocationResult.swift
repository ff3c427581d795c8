import Foundation

/// What a function prints on stdout: one JSON document (one line in warm mode).
///
/// - `{"status":"ok"}` — every record succeeded (optionally `results`: message id → text kept
///   under the message's idempotency key);
/// - `{"status":"partial","failures":[{"message_id":…,"error":…,"retryable":true}]}` — only the
///   listed records failed (Lambda's partial batch response); the others succeeded; a failure with
///   `"not_before_ms"` did nothing and can do nothing before then (`RetryDeferring`): the queue
///   defers its message without using up an attempt;
/// - `{"status":"error","error":…,"retryable":false}` — the whole batch failed.
public struct InvocationResult: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable { case ok, partial, error }

    /// One record that failed.
    public struct Failure: Codable, Sendable, Equatable {
        public var messageID: String
        public var error: String
        /// False for bad input or a revoked credential: dead-letter at once.
        public var retryable: Bool
        /// Set when the record did nothing and can do nothing before this time (Unix ms).
        public var notBeforeMillis: Int64?

        public init(messageID: String, error: String, retryable: Bool = true, notBeforeMillis: Int64? = nil) {
            self.messageID = messageID
            self.error = error
            self.retryable = retryable
            self.notBeforeMillis = notBeforeMillis
        }

        enum CodingKeys: String, CodingKey { case messageID = "message_id", error, retryable, notBeforeMillis = "not_before_ms" }
    }

    public var status: Status
    public var failures: [Failure]?
    public var error: String?
    public var retryable: Bool?
    public var results: [String: String]?

    public init(status: Status, failures: [Failure]? = nil, error: String? = nil, retryable: Bool? = nil, results: [String: String]? = nil) {
        self.status = status
        self.failures = failures
        self.error = error
        self.retryable = retryable
        self.results = results
    }

    public static func ok(results: [String: String]? = nil) -> InvocationResult { InvocationResult(status: .ok, results: results) }

    public static func failed(_ error: String, retryable: Bool = true) -> InvocationResult {
        InvocationResult(status: .error, error: error, retryable: retryable)
    }

    /// ok when nothing failed, else partial.
    public static func from(failures: [Failure], results: [String: String]) -> InvocationResult {
        InvocationResult(status: failures.isEmpty ? .ok : .partial, failures: failures.isEmpty ? nil : failures,
                         results: results.isEmpty ? nil : results)
    }

    /// `{"status":"ok"}`: what the encoder writes for a plain ok (nil members are left out), and
    /// what most batches answer — written and read without the encoder and the decoder.
    static let plainOK = Array(#"{"status":"ok"}"#.utf8)

    var isPlainOK: Bool { status == .ok && failures == nil && error == nil && retryable == nil && results == nil }

    public func encodedLine() throws -> [UInt8] {
        if isPlainOK { return Self.plainOK + [UInt8(ascii: "\n")] }
        var bytes = Array(try InvocationWire.encoder.encode(self))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Checks what a function printed; the reason names what is wrong, for the attempt's history.
    public static func parse(_ bytes: [UInt8]) throws(UnparsableResult) -> InvocationResult {
        if isPlainOK(bytes) { return .ok() }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw UnparsableResult(reason: "no result on stdout") }
        let result: InvocationResult
        do {
            result = try JSONDecoder().decode(InvocationResult.self, from: Data(text.utf8))
        } catch {
            throw UnparsableResult(reason: "stdout is not a result: '\(Self.excerpt(text))'")
        }
        if result.status == .partial && (result.failures ?? []).isEmpty {
            throw UnparsableResult(reason: "status partial without failures")
        }
        return result
    }

    /// `bytes` is `{"status":"ok"}` with at most ASCII white space around it (the decoder's verdict
    /// on such a line is `.ok()`, so it is not asked).
    static func isPlainOK(_ bytes: [UInt8]) -> Bool {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return bytes[start..<end].elementsEqual(plainOK)
    }

    static func excerpt(_ text: String) -> String {
        let line = text.replacingOccurrences(of: "\n", with: "\\n")
        return line.count > 200 ? String(line.prefix(200)) + "…" : line
    }
}

/// The function's stdout could not be read as a result.
public struct UnparsableResult: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String
    public var description: String { reason }
}
