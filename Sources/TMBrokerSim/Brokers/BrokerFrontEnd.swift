import Foundation

/// One broker's face: its routes, authentication, request parsing, response envelopes, error
/// shapes, rate limits and client-id rules, in front of the shared `Exchange`.
///
/// Guarantees (every front end): `respond` never throws or crashes on bad input — it answers with
/// the broker's own error shape; an order is placed at most once per request; the error and 429
/// shapes given to fault injection are exactly those the front end itself uses.
public protocol BrokerFrontEnd: Sendable {
    var broker: Broker { get }
    /// Answers a request whose path is the broker's own (the `/kite`, `/upstox`... prefix removed).
    func respond(to request: HTTPServerRequest) -> HTTPServerResponse
    /// The broker's error body for an HTTP status (e.g. Kite 503 → NetworkException).
    func errorResponse(status: Int, message: String) -> HTTPServerResponse
    /// The broker's 429, with its `Retry-After` where the broker sends one.
    func rateLimitedResponse(retryAfterSeconds: Int) -> HTTPServerResponse
}

/// Splits a path into its segments, for route matching (`/orders/regular/123` → orders, regular, 123).
func pathSegments(_ path: String) -> [String] {
    let utf8 = path.utf8
    // Outside ASCII a `/` and a combining mark after it are one Character, which does not split.
    guard ASCIIText.isASCII(utf8) else { return path.split(separator: "/", omittingEmptySubsequences: true).map { FormFields.decode($0) } }
    var segments: [String] = []
    var start = utf8.startIndex
    var index = start
    while index != utf8.endIndex {
        if utf8[index] == UInt8(ascii: "/") {
            if start != index { segments.append(FormFields.decode(path[start..<index])) }
            start = utf8.index(after: index)
        }
        index = utf8.index(after: index)
    }
    if start != utf8.endIndex { segments.append(FormFields.decode(path[start...])) }
    return segments
}

/// A front end's authentication verdict: the account, or the broker's refusal to send back.
enum Authentication {
    case accepted(SimCredentials)
    case refused(HTTPServerResponse)
}
