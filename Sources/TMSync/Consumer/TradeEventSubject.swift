import Foundation
import TMCore

/// Whose trades a `trade-events` message concerns: a sync's `trade.created` / `trade.updated`
/// name their `user_id`; the order path's `order.state` may name only its `account_id`. Shared by
/// every consumer that keeps per-user state current from the events (live portfolio, analytics).
public enum TradeEventSubject: Equatable, Sendable {
    case user(UUID)
    case account(UUID)

    /// A message this reader refuses, naming the field and the reason.
    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The subject of an event body; nil for an `order.state` change with nothing filled (no trade
    /// changed). A `null` field counts as absent.
    public static func of(_ body: JSONValue) throws(Refusal) -> TradeEventSubject? {
        if body["event"]?.stringValue == "order.state", let filled = body["filled_quantity"]?.stringValue.flatMap(DecimalText.parse), filled == 0 {
            return nil
        }
        for (field, subject) in [("user_id", TradeEventSubject.user), ("account_id", TradeEventSubject.account)] {
            guard let value = body[field], value != .null else { continue }
            guard let text = value.stringValue, let id = UUID(uuidString: text) else { throw Refusal(description: "\(field): '\(value.text)' is not a UUID") }
            return subject(id)
        }
        throw Refusal(description: "(body): neither user_id nor account_id: not a trade event")
    }
}
