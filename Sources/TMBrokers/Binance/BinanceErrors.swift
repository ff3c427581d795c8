import Foundation
import TMCore
import TMHTTP

/// Binance's error answers (`{"code":-2010,"msg":…}`) to `BrokerError`.
///
/// | answer | error |
/// |---|---|
/// | 429, 418 (IP ban), `-1003` | `rateLimited` (Retry-After) |
/// | 401, `-2014` (API-key format invalid), `-2015` (invalid key, IP or permissions), `-1022` (signature invalid) | `unauthorized`, naming which |
/// | `-1021` (timestamp outside recvWindow) | `unavailable`: refused before processing, so nothing happened; retrying with a fresh timestamp is safe, and a clock that stays skewed is an operator's problem, not the user's |
/// | `-1007` (send status unknown), any 5xx | `unknownOutcome` (change) / `unavailable` (read) |
/// | `-2013` (order does not exist), `-2011` "Unknown order sent." | `notFound` |
/// | `-2010`, `-1013` and other codes | `rejected(msg, code)` |
/// | 4xx without a readable Binance body | `invalidResponse` |
///
/// Reasons are Binance's `msg` and code only.
enum BinanceErrors {
    static let credentialCodes: [String: String] = [
        "-2014": "API key format invalid", "-2015": "invalid API key, IP or permissions", "-1022": "signature not valid",
    ]

    static func map(_ response: HTTPResponse, effect: CallEffect) -> BrokerError {
        let body = try? JSONValue.parse([UInt8](response.body))
        let code = body?["code"]?.scalarText
        let message = ErrorText.clean(body?["msg"]?.scalarText)
        let reason = message ?? "HTTP \(response.status)"
        let labelled = code.map { "\(reason) (\($0))" } ?? reason
        if response.status == 429 || response.status == 418 || code == "-1003" {
            return .rateLimited(retryAfter: RetryAfter.duration(in: response))
        }
        if let code, let which = credentialCodes[code] { return .unauthorized(reason: "\(which): \(labelled)") }
        switch code {
        case "-1021": return .unavailable(reason: "request timestamp outside recvWindow (clock skew): \(labelled)")
        case "-1007": return .uncertain("\(labelled): send status unknown", effect: effect)
        case "-2013": return .notFound(reason: labelled)
        case "-2011" where reason.lowercased().contains("unknown order"): return .notFound(reason: labelled)
        default: break
        }
        if response.status >= 500 { return .uncertain("HTTP \(response.status): \(labelled)", effect: effect) }
        return .fromStatus(response, reason: message, code: code, effect: effect)
    }
}
