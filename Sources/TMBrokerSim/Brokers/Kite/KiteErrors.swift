import Foundation
import TMCore

/// Kite Connect's error envelope: `{"status":"error","message":...,"data":null,"error_type":...}`.
enum KiteErrors {
    static func response(_ status: Int, _ type: String, _ message: String, headers: [(name: String, value: String)] = []) -> HTTPServerResponse {
        .json(status, ["status": "error", "message": .string(message), "data": nil, "error_type": .string(type)], headers: headers)
    }

    /// The exception type Kite uses for an HTTP status.
    static func type(for status: Int) -> String {
        switch status {
        case 400: return "InputException"
        case 403: return "TokenException"
        case 429, 503, 504: return "NetworkException"
        case 502: return "DataException"
        default: return "GeneralException"
        }
    }

    static func input(_ message: String) -> HTTPServerResponse { response(400, "InputException", message) }

    static func placement(_ rejection: PlacementRejection) -> HTTPServerResponse {
        switch rejection {
        case .unknownInstrument(let symbol): return input("Invalid `tradingsymbol`: \(symbol) is not a listed instrument.")
        case .nonPositiveQuantity: return input("Invalid `quantity`: must be greater than 0.")
        case .notLotMultiple(let lot): return input("Quantity should be a multiple of lot size \(DecimalText.plain(lot)).")
        case .missingLimitPrice: return input("Missing `price` for a LIMIT order.")
        case .nonPositivePrice: return input("Invalid `price`: must be greater than 0.")
        case .notTickMultiple(let tick): return input("Price should be a multiple of tick size \(DecimalText.plain(tick)).")
        case .duplicateClientOrderID: return input("Duplicate order.")  // Kite never dedups; kept for completeness
        }
    }
}
