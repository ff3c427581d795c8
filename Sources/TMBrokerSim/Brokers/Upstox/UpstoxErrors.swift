import Foundation
import TMCore

/// Upstox v2's error envelope: `{"status":"error","errors":[{"errorCode":"UDAPI...","message":...}]}`,
/// with the snake_case twins of each field as Upstox sends them.
enum UpstoxErrors {
    static let invalidToken = "UDAPI100050"
    static let tooManyRequests = "UDAPI10005"

    static func response(_ status: Int, _ code: String, _ message: String, field: String? = nil,
                         headers: [(name: String, value: String)] = []) -> HTTPServerResponse {
        let error: JSONValue = [
            "errorCode": .string(code), "message": .string(message), "propertyPath": .optional(field), "invalidValue": nil,
            "error_code": .string(code), "property_path": .optional(field), "invalid_value": nil,
        ]
        return .json(status, ["status": "error", "errors": [error]], headers: headers)
    }

    /// The code Upstox uses for an HTTP status.
    static func code(for status: Int) -> String {
        switch status {
        case 401: return invalidToken
        case 429: return tooManyRequests
        case 400: return "UDAPI1000"
        case 404: return "UDAPI100010"
        default: return "UDAPI100500"
        }
    }

    static func invalid(_ field: String, _ message: String) -> HTTPServerResponse { response(400, "UDAPI1000", message, field: field) }

    static func placement(_ rejection: PlacementRejection) -> HTTPServerResponse {
        switch rejection {
        case .unknownInstrument: return response(400, "UDAPI100011", "Invalid Instrument key", field: "instrument_token")
        case .nonPositiveQuantity: return response(400, "UDAPI1004", "Quantity must be greater than 0", field: "quantity")
        case .notLotMultiple(let lot): return response(400, "UDAPI1004", "Quantity must be a multiple of lot size \(DecimalText.plain(lot))", field: "quantity")
        case .missingLimitPrice: return response(400, "UDAPI1007", "Price is required for a LIMIT order", field: "price")
        case .nonPositivePrice: return response(400, "UDAPI1007", "Price must be greater than 0", field: "price")
        case .notTickMultiple(let tick): return response(400, "UDAPI1007", "Price must be a multiple of tick size \(DecimalText.plain(tick))", field: "price")
        case .duplicateClientOrderID: return response(400, "UDAPI1000", "Duplicate order", field: "tag")  // Upstox never dedups
        }
    }
}
