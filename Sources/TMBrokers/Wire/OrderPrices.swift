import Foundation
import TMCore

/// The prices an order type needs, checked once for every broker before anything is sent.
///
/// Guarantees: a limit or stop-limit order has a positive limit price, a stop or stop-limit order a
/// positive stop price, and a price the type does not use is not sent (brokers refuse or, worse,
/// silently apply stray prices); violations are `rejected` without a request.
enum OrderPrices {
    static func checked(_ order: OrderRequest, broker: BrokerKind) throws(BrokerError) -> (limit: Decimal?, stop: Decimal?) {
        let needsLimit = order.type == .limit || order.type == .stopLimit
        let needsStop = order.type == .stop || order.type == .stopLimit
        func refuse(_ what: String) -> BrokerError {
            .rejected(reason: "a \(order.type.rawValue) order for \(broker.rawValue) needs a positive \(what)", code: "INVALID_PRICE")
        }
        if needsLimit, (order.limitPrice ?? 0) <= 0 { throw refuse("limit price") }
        if needsStop, (order.stopPrice ?? 0) <= 0 { throw refuse("stop price") }
        guard order.quantity > 0 else {
            throw .rejected(reason: "quantity must be positive", code: "INVALID_QUANTITY")
        }
        return (needsLimit ? order.limitPrice : nil, needsStop ? order.stopPrice : nil)
    }

    /// The prices as text fields under the broker's names (form, query or JSON strings).
    static func fields(_ order: OrderRequest, broker: BrokerKind, limitName: String, stopName: String) throws(BrokerError) -> [(String, String)] {
        let prices = try checked(order, broker: broker)
        var fields: [(String, String)] = []
        if let limit = prices.limit { fields.append((limitName, DecimalText.plain(limit))) }
        if let stop = prices.stop { fields.append((stopName, DecimalText.plain(stop))) }
        return fields
    }
}
