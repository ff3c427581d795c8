import Foundation
import TMCore
import TMHTTP

/// Kite's and Upstox's success envelope, `{"status":"success","data":…}`, read once for both.
///
/// Guarantees: returns `data` only when `status` is `success`; anything else in a 2xx is an
/// unreadable answer (`invalidResponse`, or `unknownOutcome` for a change).
enum SuccessEnvelope {
    static func data(of response: HTTPResponse, context: String, effect: CallEffect) throws(BrokerError) -> JSONValue {
        try BrokerError.decodingAnswer(to: effect) { () throws(BrokerError) -> JSONValue in
            let envelope = try JSONFields(JSONValue.body(of: response, context: context), context: context)
            guard try envelope.optionalText("status")?.lowercased() == "success" else {
                throw .invalidResponse(reason: "\(context): HTTP \(response.status) without status \"success\"")
            }
            return envelope.members["data"] ?? .null
        }
    }
}
