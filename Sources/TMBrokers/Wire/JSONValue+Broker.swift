import Foundation
import TMCore

/// Reading and writing broker JSON with `JSONValue` (TMCore), whose numbers stay the exact text
/// sent; the accessors shared with the simulator (`arrayValue`, `isNull`, `decimal`) are TMCore's.
extension JSONValue {
    /// An object's members by name (a repeated name keeps its last value, as `subscript` does).
    var objectMembers: [String: JSONValue]? {
        guard case .object(let pairs) = self else { return nil }
        return Dictionary(pairs, uniquingKeysWith: { _, last in last })
    }

    /// A string's value, or a number's literal (brokers send ids both ways).
    var scalarText: String? {
        switch self {
        case .string(let s), .number(let s): return s
        default: return nil
        }
    }

    /// The compact JSON text as bytes, for a request body.
    var data: Data { Data(text.utf8) }
}
