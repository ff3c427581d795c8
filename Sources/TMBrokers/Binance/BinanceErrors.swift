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
/// | `-2022` cancel-replace failed (the cancel failed, nothing placed) | the cancel's own error: an unknown order → `notFound`, else `rejected` with the cancel's code |
/// | `-2021` cancel succeeded, replacement refused | `rejected(code: "-2021")`, the reason saying the original order is cancelled and why the replacement was refused: final (the modification did not happen), but unlike a plain refusal the original no longer works — hiding that would leave the platform showing a live order (the next sync reads it as cancelled) |
/// | `-2021` cancel failed, replacement placed (only `ALLOW_FAILURE`, which the adapter never sends) | `unknownOutcome`: two orders may be live, the caller must look |
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
        if code == "-2021" || code == "-2022", let data = body?["data"] { return cancelReplace(data, labelled: labelled, effect: effect) }
        if let known = byCode(code, reason: reason, labelled: labelled, effect: effect) { return known }
        if response.status >= 500 { return .uncertain("HTTP \(response.status): \(labelled)", effect: effect) }
        return .fromStatus(response, reason: message, code: code, effect: effect)
    }

    /// The codes whose meaning does not depend on the HTTP status.
    static func byCode(_ code: String?, reason: String, labelled: String, effect: CallEffect) -> BrokerError? {
        switch code {
        case "-1021": return .unavailable(reason: "request timestamp outside recvWindow (clock skew): \(labelled)")
        case "-1007": return .uncertain("\(labelled): send status unknown", effect: effect)
        case "-2013": return .notFound(reason: labelled)
        case "-2011" where reason.lowercased().contains("unknown order"): return .notFound(reason: labelled)
        default: return nil
        }
    }

    /// A failed `cancelReplace`: `data` holds what happened to each half.
    static func cancelReplace(_ data: JSONValue, labelled: String, effect: CallEffect) -> BrokerError {
        func part(_ key: String) -> (code: String?, reason: String) {
            let code = data[key]?["code"]?.scalarText
            let reason = ErrorText.clean(data[key]?["msg"]?.scalarText) ?? "no reason given"
            return (code, code.map { "\(reason) (\($0))" } ?? reason)
        }
        let cancelled = data["cancelResult"]?.scalarText == "SUCCESS", placed = data["newOrderResult"]?.scalarText == "SUCCESS"
        switch (cancelled, placed) {
        case (true, false):
            let refusal = part("newOrderResponse").reason
            return .rejected(reason: "cancel-replace: the original order was cancelled, its replacement was refused: \(refusal)", code: "-2021")
        case (false, true):
            return .uncertain("cancel-replace: the cancel failed (\(part("cancelResponse").reason)) but a replacement was placed", effect: effect)
        case (false, false):
            let cancel = part("cancelResponse")
            let raw = ErrorText.clean(data["cancelResponse"]?["msg"]?.scalarText) ?? ""
            return byCode(cancel.code, reason: raw, labelled: "cancel-replace: \(cancel.reason)", effect: effect)
                ?? .rejected(reason: "cancel-replace: the cancel was refused, nothing was placed: \(cancel.reason)", code: cancel.code)
        case (true, true):
            return .rejected(reason: labelled, code: nil)
        }
    }
}
