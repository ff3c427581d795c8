import Foundation
import TMCore

/// `GET /admin/truth`: the broker-side facts of one account, in one neutral shape for every broker,
/// so tests can count orders per client id and compare trades and positions with what was synced.
enum TruthView {
    static func account(_ exchange: Exchange, broker: Broker, apiKey: String) -> JSONValue {
        let orders = exchange.orders(broker, apiKey: apiKey)
        var perClientID: [String: Int] = [:]
        for order in orders { if let id = order.clientOrderID { perClientID[id, default: 0] += 1 } }
        let text = { (value: Decimal) in JSONValue.string(DecimalText.plain(value)) }
        return [
            "broker": .string(broker.rawValue), "api_key": .string(apiKey),
            "orders": .array(orders.map { order in
                [
                    "order_id": .string(order.id), "client_order_id": .optional(order.clientOrderID), "symbol": .string(order.symbol),
                    "side": .string(order.side.rawValue), "type": .string(order.ticket.type.rawValue), "status": .string(order.status.rawValue),
                    "quantity": text(order.quantity), "filled_quantity": text(order.filledQuantity),
                    "average_price": order.averagePrice.map(text) ?? nil, "limit_price": order.ticket.limitPrice.map(text) ?? nil,
                    "created_at": .string(Timestamps.rfc3339(order.createdAt)),
                ]
            }),
            "orders_per_client_id": .object(perClientID.keys.sorted().map { ($0, JSONValue.int(perClientID[$0]!)) }),
            "trades": .array(exchange.trades(broker, apiKey: apiKey).map { trade in
                [
                    "trade_id": .string(trade.id), "order_id": .string(trade.orderID), "symbol": .string(trade.symbol),
                    "side": .string(trade.side.rawValue), "quantity": text(trade.quantity), "price": text(trade.price), "fee": text(trade.fee),
                    "fee_asset": .string(trade.feeAsset), "time": .string(Timestamps.rfc3339(trade.time)),
                ]
            }),
            "positions": .array(exchange.positions(broker, apiKey: apiKey).map { line in
                ["symbol": .string(line.instrument.symbol), "quantity": text(line.quantity), "average_price": text(line.averagePrice)]
            }),
        ]
    }
}
