import Foundation
import TMCore

/// Upstox v2's JSON for orders, trades and short-term positions (numbers as JSON numbers, IST times).
enum UpstoxFormat {
    static func status(_ order: SimOrder) -> String {
        switch order.status {
        case .open, .partiallyFilled: return "open"
        case .filled: return "complete"
        case .cancelled: return "cancelled"
        case .rejected: return "rejected"
        }
    }

    static func order(_ order: SimOrder, statusOverride: String? = nil, filledOverride: Decimal? = nil) -> JSONValue {
        let filled = filledOverride ?? order.filledQuantity
        return [
            "exchange": .string(order.instrument.exchange), "product": .string(order.ticket.product),
            "price": .decimal(order.ticket.limitPrice ?? 0), "quantity": .decimal(order.quantity),
            "status": .string(statusOverride ?? status(order)), "guid": nil, "tag": .optional(order.clientOrderID),
            "instrument_token": .string(order.instrument.instrumentToken), "placed_by": "SIMUSER", "trading_symbol": .string(order.symbol),
            "tradingsymbol": .string(order.symbol), "order_type": .string(order.ticket.type == .market ? "MARKET" : "LIMIT"),
            "validity": .string(order.ticket.timeInForce), "trigger_price": 0, "disclosed_quantity": 0,
            "transaction_type": .string(order.side == .buy ? "BUY" : "SELL"),
            "average_price": .decimal(filledOverride == 0 ? 0 : (order.averagePrice?.rounded(scale: 4) ?? 0)),
            "filled_quantity": .decimal(filled), "pending_quantity": .decimal(statusOverride == nil ? order.remainingQuantity : order.quantity - filled),
            "status_message": .optional(order.statusMessage), "status_message_raw": .optional(order.statusMessage),
            "exchange_order_id": .string("1300000\(order.number)"), "parent_order_id": nil, "order_id": .string(order.id),
            "variety": "SIMPLE", "order_timestamp": .string(Timestamps.india(order.createdAt)),
            "exchange_timestamp": .string(Timestamps.india(order.updatedAt)), "is_amo": false, "order_request_id": "1",
            "order_ref_id": .string("SIM-\(order.number)"),
        ]
    }

    /// Upstox's order history: the order as it was accepted, then as it is now.
    static func history(_ order: SimOrder) -> [JSONValue] {
        var entries: [JSONValue] = [self.order(order, statusOverride: "open", filledOverride: 0)]
        if order.status != .open { entries.append(self.order(order)) }
        return entries
    }

    static func trade(_ trade: SimTrade, order: SimOrder?) -> JSONValue {
        [
            "exchange": .string(trade.instrument.exchange), "product": .string(order?.ticket.product ?? "D"),
            "trading_symbol": .string(trade.symbol), "tradingsymbol": .string(trade.symbol),
            "instrument_token": .string(trade.instrument.instrumentToken),
            "order_type": .string(order?.ticket.type == .limit ? "LIMIT" : "MARKET"),
            "transaction_type": .string(trade.side == .buy ? "BUY" : "SELL"), "quantity": .decimal(trade.quantity),
            "exchange_order_id": .string("1300000\(trade.orderNumber)"), "order_id": .string(trade.orderID),
            "exchange_timestamp": .string(Timestamps.india(trade.time)), "average_price": .decimal(trade.price),
            "trade_id": .string(trade.id), "order_ref_id": .string("SIM-\(trade.orderNumber)"),
            "order_timestamp": .string(Timestamps.india(order?.createdAt ?? trade.time)),
        ]
    }

    static func position(_ line: PositionLine) -> JSONValue {
        [
            "exchange": .string(line.instrument.exchange), "multiplier": 1, "value": .decimal(line.sellValue - line.buyValue),
            "pnl": .decimal((line.realizedPnl + line.unrealizedPnl).rounded(scale: 4)), "product": "D",
            "instrument_token": .string(line.instrument.instrumentToken),
            // Upstox reports no average for a line made only of the day's trades (its documented
            // sample: both lines with no overnight quantity have `"average_price": null`, the average
            // then being `buy_price` / `sell_price`); every simulated line is the day's.
            "average_price": nil,
            "buy_value": .decimal(line.buyValue), "overnight_quantity": 0, "day_buy_value": .decimal(line.buyValue),
            "day_buy_price": .decimal(line.buyPrice), "overnight_buy_amount": 0, "overnight_buy_quantity": 0,
            "day_buy_quantity": .decimal(line.buyQuantity), "day_sell_value": .decimal(line.sellValue), "day_sell_price": .decimal(line.sellPrice),
            "overnight_sell_amount": 0, "overnight_sell_quantity": 0, "day_sell_quantity": .decimal(line.sellQuantity),
            "quantity": .decimal(line.quantity), "last_price": .decimal(line.lastPrice),
            "unrealised": .decimal(line.unrealizedPnl.rounded(scale: 4)), "realised": .decimal(line.realizedPnl.rounded(scale: 4)),
            "sell_value": .decimal(line.sellValue), "trading_symbol": .string(line.instrument.symbol), "tradingsymbol": .string(line.instrument.symbol),
            "close_price": .decimal(line.instrument.basePrice), "buy_price": .decimal(line.buyPrice), "sell_price": .decimal(line.sellPrice),
        ]
    }

    /// The equity margin a simulated account opens the day with, in INR.
    static let openingMargin: Decimal = 1_000_000

    /// `GET /v2/user/get-funds-and-margin` from the account's book: margin blocked by working buy
    /// orders is `used_margin`; `available_margin` is the opening margin less the net cost of the
    /// day's fills and what is blocked. The simulator lists no commodity contracts, so that segment
    /// is all zeros.
    static func funds(orders: [SimOrder], trades: [SimTrade]) -> JSONValue {
        let blocked = orders.filter { $0.status.isWorking && $0.side == .buy }
            .reduce(Decimal(0)) { $0 + $1.remainingQuantity * ($1.ticket.limitPrice ?? $1.instrument.basePrice) }
        let netCost = trades.reduce(Decimal(0)) { $0 + ($1.side == .buy ? 1 : -1) * $1.quantity * $1.price }
        func segment(used: Decimal, available: Decimal) -> JSONValue {
            ["used_margin": .decimal(used), "payin_amount": 0, "span_margin": 0, "adhoc_margin": 0, "notional_cash": 0,
             "available_margin": .decimal(available), "exposure_margin": 0]
        }
        return ["commodity": segment(used: 0, available: 0),
                "equity": segment(used: blocked.rounded(scale: 2), available: (openingMargin - netCost - blocked).rounded(scale: 2))]
    }

    /// The key Upstox files a quote under: the instrument key's segment and the trading symbol
    /// (`NSE_EQ:INFY` for `NSE_EQ|INE009A01021`).
    static func quoteKey(_ instrument: Instrument) -> String {
        "\(instrument.instrumentToken.split(separator: "|").first.map(String.init) ?? instrument.exchange):\(instrument.symbol)"
    }

    static func success(_ data: JSONValue) -> HTTPServerResponse { .json(200, ["status": "success", "data": data]) }
}
