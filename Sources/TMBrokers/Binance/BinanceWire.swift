import Foundation
import TMCore

/// Binance's order and trade objects to the platform's model.
///
/// Guarantees: decimals come from Binance's strings exactly; times are epoch milliseconds; the
/// average price is `cummulativeQuoteQty / executedQty` (Binance reports no average; a negative
/// `cummulativeQuoteQty`, which Binance documents for some historical orders, gives none); the
/// remaining quantity is `origQty − executedQty` while the order works and 0 once it is finished;
/// a `stopPrice` of 0 (Binance's "no trigger") is none; every status maps, unknown ones to a live state.
enum BinanceWire {
    static let sides: [String: OrderSide] = ["buy": .buy, "sell": .sell]
    static let types: [String: OrderType] = [
        "market": .market, "limit": .limit, "limit_maker": .limit, "stop_loss": .stop, "take_profit": .stop,
        "stop_loss_limit": .stopLimit, "take_profit_limit": .stopLimit,
    ]

    static func status(_ raw: String, filled: Decimal) -> BrokerOrderStatus {
        switch raw.uppercased() {
        case "FILLED": return .filled
        case "PARTIALLY_FILLED": return .partiallyFilled
        case "CANCELED", "PENDING_CANCEL": return .cancelled
        case "REJECTED": return .rejected
        case "EXPIRED", "EXPIRED_IN_MATCH": return .expired
        // NEW, PENDING_NEW and anything new: still live.
        default: return filled > 0 ? .partiallyFilled : .open
        }
    }

    static func order(_ fields: JSONFields) throws(BrokerError) -> BrokerOrder {
        let filled = try fields.optionalDecimal("executedQty") ?? 0
        let quote = try fields.optionalDecimal("cummulativeQuoteQty") ?? 0
        let price = try fields.optionalDecimal("price")
        let created = try fields.optionalDate("time", WireTime.epochMilliseconds)
        let transacted = try fields.optionalDate("transactTime", WireTime.epochMilliseconds)
        let quantity = try fields.decimal("origQty")
        let state = status(try fields.text("status"), filled: filled)
        let stop = try fields.optionalDecimal("stopPrice")
        return BrokerOrder(
            brokerOrderID: try fields.text("orderId"),
            clientOrderID: try fields.optionalText("clientOrderId"),
            symbol: try fields.text("symbol"),
            exchange: nil,
            side: try fields.word("side", sides),
            type: try fields.word("type", types),
            quantity: quantity,
            filledQuantity: filled,
            averagePrice: filled > 0 && quote > 0 ? quote / filled : nil,
            limitPrice: price == 0 ? nil : price,
            status: state,
            submittedAt: created ?? transacted,
            updatedAt: try fields.optionalDate("updateTime", WireTime.epochMilliseconds) ?? transacted,
            stopPrice: stop == 0 ? nil : stop,
            remainingQuantity: state == .open || state == .partiallyFilled ? max(quantity - filled, 0) : 0)
    }

    /// A `myTrades` entry and its numeric id (ids are per symbol, so the trade id is `SYMBOL:id`).
    static func trade(_ fields: JSONFields, symbol: String) throws(BrokerError) -> (BrokerTrade, Int64) {
        guard let id = Int64(try fields.text("id")) else { throw fields.malformed("id", "an integer") }
        let isBuyer = try fields.bool("isBuyer") ?? false
        let trade = BrokerTrade(
            brokerTradeID: "\(symbol):\(id)",
            brokerOrderID: try fields.text("orderId"),
            symbol: try fields.optionalText("symbol") ?? symbol,
            exchange: nil,
            side: isBuyer ? .buy : .sell,
            quantity: try fields.decimal("qty"),
            price: try fields.decimal("price"),
            fee: try fields.optionalDecimal("commission") ?? 0,
            feeCurrency: try fields.optionalText("commissionAsset"),
            executedAt: try fields.date("time", WireTime.epochMilliseconds),
            isMaker: try fields.bool("isMaker"),
            quoteQuantity: try fields.optionalDecimal("quoteQty"))
        return (trade, id)
    }
}

extension BinanceWire {
    /// An array answer's orders (`openOrders`, `allOrders`).
    static func orders(_ answer: JSONValue, context: String) throws(BrokerError) -> [BrokerOrder] {
        var orders: [BrokerOrder] = []
        for row in try answer.rows(context: context) { orders.append(try order(row)) }
        return orders
    }

    /// `base` with `newer` merged in by order id: an order listed twice keeps the report with the
    /// later `updateTime` (the first one on a tie or when a time is missing); new ones are appended.
    static func merged(_ base: [BrokerOrder], _ newer: [BrokerOrder]) -> [BrokerOrder] {
        var merged = base
        var index = Dictionary(base.enumerated().map { ($1.brokerOrderID, $0) }, uniquingKeysWith: { first, _ in first })
        for order in newer {
            guard let at = index[order.brokerOrderID] else {
                index[order.brokerOrderID] = merged.count
                merged.append(order)
                continue
            }
            if let time = order.updatedAt, let known = merged[at].updatedAt, time > known { merged[at] = order }
        }
        return merged
    }
}
