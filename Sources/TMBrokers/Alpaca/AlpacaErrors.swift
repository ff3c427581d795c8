import Foundation
import TMCore
import TMHTTP

/// Alpaca's error answers (`{"code":40310000,"message":…}`) to `BrokerError`.
///
/// | answer | error |
/// |---|---|
/// | 429 | `rateLimited` (Retry-After when given) |
/// | 401; 403 "forbidden" / not authorized (code 401xxxxx) | `unauthorized` |
/// | 403 with another message (insufficient buying power, 40310000) | `rejected(message, code)` |
/// | 404 (order not found, 40410000) | `notFound` |
/// | 400, 422 (incl. 40010001 duplicate client_order_id) | `rejected(message, code)` |
/// | any 5xx | `unknownOutcome` (change) / `unavailable` (read) |
/// | 4xx without a readable Alpaca body | `invalidResponse` |
///
/// Reasons are Alpaca's `message` only. Checked against Alpaca's own samples (Fixtures/alpaca: the
/// 401 of Alpaca's error guide, the SDKs' 403 and 422 bodies): each already mapped as above.
enum AlpacaErrors {
    static func map(_ response: HTTPResponse, effect: CallEffect) -> BrokerError {
        let body = try? JSONValue.parse([UInt8](response.body))
        let code = body?["code"]?.scalarText
        let message = ErrorText.clean(body?["message"]?.scalarText)
        if response.status == 403 {
            let lower = message?.lowercased() ?? ""
            let isCredentialProblem = message == nil || lower.hasPrefix("forbidden") || lower.contains("not authorized")
                || lower.contains("unauthorized") || code?.hasPrefix("401") == true
            if !isCredentialProblem { return .rejected(reason: message!, code: code ?? "HTTP 403") }
        }
        return .fromStatus(response, reason: message, code: code, effect: effect)
    }
}
