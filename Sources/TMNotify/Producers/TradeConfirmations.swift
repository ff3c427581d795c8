import Foundation
import TMCore
import TMFunctionRuntime
import TMPostgres
import TMQueue

/// Trade confirmations from `trade-events`: one `trade_confirmation` notification per fill (a
/// `trade.created` event of sync: each broker trade is one fill), for users who asked for them
/// (a `trade_confirmation` preference row). Keyed `trade_confirmation:<trade id>`, so a redelivered
/// event or a second publication of it notifies once. Other events (`trade.updated`, the order
/// path's `order.state`) are not fills and are acknowledged without a notification.
public struct TradeConfirmations: Sendable {
    public static let kind = "trade_confirmation"
    let pool: PostgresPool
    let producer: QueueProducer?

    public init(pool: PostgresPool, producer: QueueProducer?) {
        self.pool = pool
        self.producer = producer
    }

    /// What one event led to.
    public enum Outcome: Equatable, Sendable, CustomStringConvertible {
        case notified(UUID), duplicate, notAsked, notAFill(String)
        public var description: String {
            switch self {
            case .notified(let id): return "notified: \(id.uuidString.lowercased())"
            case .duplicate: return "already notified"
            case .notAsked: return "the user did not ask for trade confirmations"
            case .notAFill(let event): return "not a fill: \(event)"
            }
        }
    }

    /// Handles one `trade-events` message body.
    public func handle(_ body: String) async throws -> Outcome {
        let event = try JSONValue.parse(body)
        let kind = event["event"]?.stringValue ?? "(no event)"
        guard kind == "trade.created" else { return .notAFill(kind) }
        func field(_ name: String) throws -> String {
            guard let value = event[name]?.stringValue, !value.isEmpty else { throw RecordRejected("\(name): required in a trade.created event") }
            return value
        }
        guard let user = UUID(uuidString: try field("user_id")) else { throw RecordRejected("user_id: not a UUID") }
        let (trade, symbol, side, quantity, price) = (try field("trade_id"), try field("symbol"), try field("side"), try field("quantity"), try field("price"))
        let outcome = try await pool.transaction { db -> Outcome in
            guard try NotificationChannels.asksFor(db, userID: user, kind: Self.kind) else { return .notAsked }
            let verb = side.lowercased() == "sell" ? "Sold" : "Bought"
            let inserted = try NotificationOutbox.insert(db, NewNotification(
                userID: user, kind: Self.kind, title: "\(verb) \(quantity) \(symbol) at \(price)",
                body: "\(verb) \(quantity) \(symbol) at \(price)" + (event["fee"]?.stringValue.map { " (fee \($0))" } ?? "")
                    + (event["executed_at"]?.stringValue.map { ", executed \($0)" } ?? "") + ".",
                priority: .medium,
                payload: ["trade_id": .string(trade), "account_id": event["account_id"] ?? .null, "broker_trade_id": event["broker_trade_id"] ?? .null,
                          "symbol": .string(symbol), "side": .string(side), "quantity": .string(quantity), "price": .string(price)],
                dedupKey: "\(Self.kind):\(trade)", actionURL: "/trades/\(trade)"))
            // The key existed: the first one was announced (or the notifier's sweep finds it).
            return inserted.map(Outcome.notified) ?? .duplicate
        }
        if case .notified(let inserted) = outcome { await NotificationOutbox.announce([inserted], producer: producer) }
        return outcome
    }
}
/// The `trade-notifier` function: each record is a `trade-events` message.
public struct TradeNotifierFunction: FunctionHandler {
    let confirmations: TradeConfirmations
    public init(confirmations: TradeConfirmations) { self.confirmations = confirmations }

    public func handle(_ request: InvocationRequest, context: FunctionContext) async -> InvocationResult {
        await RecordHandler { record, _ in try await confirmations.handle(record.body).description }.handle(request, context: context)
    }
}
