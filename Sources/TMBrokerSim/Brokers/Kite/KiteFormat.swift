import Foundation
import TMCore

/// Kite Connect v3's JSON for orders, trades and positions (numbers as JSON numbers, times in IST).
enum KiteFormat {
    static func status(_ order: SimOrder) -> String {
        switch order.status {
        case .open, .partiallyFilled: return "OPEN"  // Kite shows a partly filled order as OPEN with filled_quantity > 0
        case .filled: return "COMPLETE"
        case .cancelled: return "CANCELLED"
        case .rejected: return "REJECTED"
        }
    }

    /// A finished status as Kite words it in its messages (`COMPLETE`, `CANCELLED`).
    static func statusWord(_ status: SimOrderStatus) -> String { status == .filled ? "COMPLETE" : status.rawValue.uppercased() }

    static func order(_ order: SimOrder, apiKey: String, statusOverride: String? = nil, filledOverride: Decimal? = nil) -> JSONValue {
        let filled = filledOverride ?? order.filledQuantity
        let tag = JSONValue.optional(order.clientOrderID)
        return [
            "placed_by": .string(apiKey.uppercased().prefix(6).description), "order_id": .string(order.id),
            "exchange_order_id": .string("1100000\(order.number)"), "parent_order_id": nil,
            "status": .string(statusOverride ?? status(order)), "status_message": .optional(order.statusMessage),
            "status_message_raw": .optional(order.statusMessage),
            "order_timestamp": .string(Timestamps.india(order.createdAt)),
            "exchange_update_timestamp": .string(Timestamps.india(order.updatedAt)),
            "exchange_timestamp": .string(Timestamps.india(order.createdAt)),
            "variety": .string(order.ticket.variety.isEmpty ? "regular" : order.ticket.variety), "modified": false,
            "exchange": .string(order.instrument.exchange), "tradingsymbol": .string(order.symbol),
            "instrument_token": .number(order.instrument.instrumentToken),
            "order_type": .string(order.ticket.type == .market ? "MARKET" : "LIMIT"),
            "transaction_type": .string(order.side == .buy ? "BUY" : "SELL"), "validity": .string(order.ticket.timeInForce),
            "validity_ttl": 0, "product": .string(order.ticket.product), "quantity": .decimal(order.quantity),
            "disclosed_quantity": 0, "price": .decimal(order.ticket.limitPrice ?? 0), "trigger_price": 0,
            "average_price": .decimal(filledOverride == 0 ? 0 : (order.averagePrice?.rounded(scale: 4) ?? 0)),
            "filled_quantity": .decimal(filled),
            "pending_quantity": .decimal(statusOverride == nil ? order.remainingQuantity : order.quantity - filled),
            "cancelled_quantity": .decimal(statusOverride == nil ? order.cancelledQuantity : 0),
            "market_protection": 0, "meta": [:], "tag": tag, "tags": order.clientOrderID.map { .array([.string($0)]) } ?? nil,
            "guid": .string(Identifiers.uuid(apiKey, "guid", order.number)),
        ]
    }

    /// Kite's order history: the order as it was accepted, then as it is now.
    static func history(_ order: SimOrder, apiKey: String) -> JSONValue {
        var entries: [JSONValue] = [self.order(order, apiKey: apiKey, statusOverride: "OPEN", filledOverride: 0)]
        if order.status != .open { entries.append(self.order(order, apiKey: apiKey)) }
        return .array(entries)
    }

    static func trade(_ trade: SimTrade, order: SimOrder?) -> JSONValue {
        [
            "trade_id": .string(trade.id), "order_id": .string(trade.orderID), "exchange": .string(trade.instrument.exchange),
            "tradingsymbol": .string(trade.symbol), "instrument_token": .number(trade.instrument.instrumentToken),
            "product": .string(order?.ticket.product ?? "CNC"), "average_price": .decimal(trade.price), "quantity": .decimal(trade.quantity),
            "exchange_order_id": .string("1100000\(trade.orderNumber)"), "transaction_type": .string(trade.side == .buy ? "BUY" : "SELL"),
            "fill_timestamp": .string(Timestamps.india(trade.time)), "order_timestamp": .string(Timestamps.india(order?.createdAt ?? trade.time)),
            "exchange_timestamp": .string(Timestamps.india(trade.time)),
        ]
    }

    static func position(_ line: PositionLine, day: PositionLine?) -> JSONValue {
        let pnl = line.sellValue - line.buyValue + line.quantity * line.lastPrice
        return [
            "tradingsymbol": .string(line.instrument.symbol), "exchange": .string(line.instrument.exchange),
            "instrument_token": .number(line.instrument.instrumentToken), "product": "CNC", "quantity": .decimal(line.quantity),
            "overnight_quantity": 0, "multiplier": 1, "average_price": .decimal(line.averagePrice.rounded(scale: 4)),
            "close_price": .decimal(line.instrument.basePrice), "last_price": .decimal(line.lastPrice),
            "value": .decimal(line.sellValue - line.buyValue), "pnl": .decimal(pnl.rounded(scale: 4)), "m2m": .decimal(pnl.rounded(scale: 4)),
            "unrealised": .decimal(line.unrealizedPnl.rounded(scale: 4)), "realised": .decimal(line.realizedPnl.rounded(scale: 4)),
            "buy_quantity": .decimal(line.buyQuantity), "buy_price": .decimal(line.buyPrice), "buy_value": .decimal(line.buyValue),
            "buy_m2m": .decimal(line.buyValue), "buy_m2m_value": .decimal(line.buyValue), "sell_quantity": .decimal(line.sellQuantity),
            "sell_price": .decimal(line.sellPrice), "sell_value": .decimal(line.sellValue), "sell_m2m": .decimal(line.sellValue),
            "sell_m2m_value": .decimal(line.sellValue),
            "day_buy_quantity": .decimal(day?.buyQuantity ?? 0), "day_buy_price": .decimal(day?.buyPrice ?? 0),
            "day_buy_value": .decimal(day?.buyValue ?? 0), "day_sell_quantity": .decimal(day?.sellQuantity ?? 0),
            "day_sell_price": .decimal(day?.sellPrice ?? 0), "day_sell_value": .decimal(day?.sellValue ?? 0),
        ]
    }

    /// Every account starts the day with this much cash in its equity segment.
    static let openingBalance = Decimal(1_000_000)

    /// `GET /user/margins`: the equity segment's cash less what the day's net buying spent and what
    /// working buy orders block (the simulator lists only NSE instruments, so the commodity segment
    /// is empty).
    static func margins(_ exchange: Exchange, apiKey: String) -> JSONValue {
        let spent = exchange.trades(.kite, apiKey: apiKey).reduce(Decimal(0)) { $0 + ($1.side == .buy ? 1 : -1) * $1.quantity * $1.price }
        let blocked = exchange.orders(.kite, apiKey: apiKey).filter { $0.status.isWorking && $0.side == .buy }
            .reduce(Decimal(0)) { $0 + $1.remainingQuantity * ($1.ticket.limitPrice ?? 0) }
        let debits = max(0, spent) + blocked
        return ["equity": segment(cash: openingBalance, debits: debits), "commodity": segment(cash: 0, debits: 0)]
    }

    private static func segment(cash: Decimal, debits: Decimal) -> JSONValue {
        let net = cash - debits
        return [
            "enabled": true, "net": .decimal(net),
            "available": ["adhoc_margin": 0, "cash": .decimal(cash), "opening_balance": .decimal(cash), "live_balance": .decimal(net),
                          "collateral": 0, "intraday_payin": 0],
            "utilised": ["debits": .decimal(debits), "exposure": 0, "m2m_realised": 0, "m2m_unrealised": 0, "option_premium": 0,
                         "payout": 0, "span": 0, "holding_sales": 0, "turnover": 0, "liquid_collateral": 0, "stock_collateral": 0,
                         "delivery": .decimal(debits)],
        ]
    }

    /// `success(["order_id": .string(id)])`, Kite's answer to a placement, modification or cancel;
    /// written straight to bytes when the id is all digits (Kite's always are: nothing to escape).
    static func orderIDAnswer(_ id: String) -> HTTPServerResponse {
        guard !id.isEmpty, id.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return success(["order_id": .string(id)])
        }
        var body: [UInt8] = []
        body.reserveCapacity(64)
        body.append(contentsOf: #"{"status":"success","data":{"order_id":""#.utf8)
        body.append(contentsOf: id.utf8)
        body.append(contentsOf: #""}}"#.utf8)
        return HTTPServerResponse(status: 200, headers: [("Content-Type", "application/json")], body: Data(copying: body))
    }

    static func success(_ data: JSONValue, headers: [(name: String, value: String)] = []) -> HTTPServerResponse {
        .json(200, ["status": "success", "data": data], headers: headers)
    }
}
