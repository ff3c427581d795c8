import Foundation

/// A complete HTTP response, whatever its status: a 404 or a 500 is a response, not an error,
/// because the broker adapters decide what each status means.
///
/// Guarantees: `headers` are those of the final response only (interim `100 Continue` and, when
/// redirects are followed, earlier responses are dropped), in arrival order with duplicates kept;
/// lookups by name are case-insensitive; `body` is complete (a truncated body is an error, never a
/// response).
public struct HTTPResponse: Sendable, CustomStringConvertible {
    /// Timing and connection facts of the exchange, for metrics and for proving keep-alive.
    public struct Metrics: Sendable, Equatable {
        /// From the start of the request to the end of the response.
        public var total: Duration
        /// Until the TCP connection was established (zero when an existing connection was reused).
        public var connect: Duration
        /// Until the first response byte arrived.
        public var firstByte: Duration
        /// Connections opened for this request; 0 means a kept-alive connection was reused.
        public var newConnections: Int

        public init(total: Duration, connect: Duration, firstByte: Duration, newConnections: Int) {
            self.total = total
            self.connect = connect
            self.firstByte = firstByte
            self.newConnections = newConnections
        }

        /// True when the request went over a connection kept alive from an earlier request.
        public var reusedConnection: Bool { newConnections == 0 }
    }

    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data
    public var metrics: Metrics

    public init(status: Int, headers: [(name: String, value: String)], body: Data, metrics: Metrics) {
        self.status = status
        self.headers = headers
        self.body = body
        self.metrics = metrics
    }

    /// True for 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The first value of the named header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { HTTPHeaderName.same($0.name, name) }?.value
    }

    /// Every value of the named header, in order (e.g. several `Set-Cookie` lines).
    public func headers(named name: String) -> [String] {
        headers.filter { HTTPHeaderName.same($0.name, name) }.map(\.value)
    }

    /// The body as UTF-8 text, or nil when it is not valid UTF-8.
    public var text: String? { String(data: body, encoding: .utf8) }

    /// Decodes the body as JSON.
    public func decodeJSON<T: Decodable>(_ type: T.Type = T.self, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: body)
    }

    /// Status, body size and time; not the body, which may hold account data.
    public var description: String {
        "HTTP \(status) (\(body.count) bytes, \(metrics.total))"
    }
}
