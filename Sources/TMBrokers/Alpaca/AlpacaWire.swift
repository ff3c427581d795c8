import Foundation

/// Alpaca's order, fill-activity, position and account objects to the platform's model.
///
/// Guarantees: decimals come from Alpaca's strings (or numbers) exactly; times are RFC 3339 with any
/// fraction; every Alpaca order status maps (unknown ones to a live state, never a terminal one); an
/// order's remaining quantity is qty − filled_qty while it works and 0 once it is finished; a fill
/// keeps its order's `leaves_qty`.
enum AlpacaWire {
    static let sides: [String: OrderSide] = ["buy": .buy, "sell": .sell, "sell_short": .sell]
    static let types: [String: OrderType] = [
        "market": .market, "limit": .limit, "stop": .stop, "stop_limit": .stopLimit, "trailing_stop": .stop,
    ]

    static func status(_ raw: String, filled: Decimal) -> BrokerOrderStatus {
        switch raw.lowercased() {
        case "filled": return .filled
        case "partially_filled": return .partiallyFilled
        // Replaced orders live on as the replacing order; this one is finished.
        case "canceled", "cancelled", "replaced": return .cancelled
        case "expired": return .expired
        case "rejected": return .rejected
        // new, accepted, pending_new, accepted_for_bidding, held, calculated, pending_cancel,
        // pending_replace, stopped, suspended, done_for_day, and anything new: still live.
        default: return filled > 0 ? .partiallyFilled : .open
        }
    }

    static func order(_ fields: JSONFields) throws(BrokerError) -> BrokerOrder {
        let filled = try fields.optionalDecimal("filled_qty") ?? 0
        let typeField = fields.has("type") ? "type" : "order_type"
        let created = try fields.optionalDate("created_at", WireTime.rfc3339)
        let status = status(try fields.text("status"), filled: filled)
        // A notional order has no qty until it fills.
        let ordered = try fields.optionalDecimal("qty")
        return BrokerOrder(
            brokerOrderID: try fields.text("id"),
            clientOrderID: try fields.optionalText("client_order_id"),
            symbol: try fields.text("symbol"),
            exchange: nil,
            side: try fields.word("side", sides),
            type: try fields.word(typeField, types),
            quantity: ordered ?? filled,
            filledQuantity: filled,
            averagePrice: try fields.optionalDecimal("filled_avg_price"),
            limitPrice: try fields.optionalDecimal("limit_price"),
            status: status,
            submittedAt: try fields.optionalDate("submitted_at", WireTime.rfc3339) ?? created,
            updatedAt: try fields.optionalDate("updated_at", WireTime.rfc3339),
            stopPrice: try fields.optionalDecimal("stop_price"),
            remainingQuantity: remaining(ordered: ordered, filled: filled, status: status))
    }

    /// What still works at Alpaca: nothing once the order is finished; qty − filled while it
    /// works; unknown for a working notional order (no qty yet).
    static func remaining(ordered: Decimal?, filled: Decimal, status: BrokerOrderStatus) -> Decimal? {
        switch status {
        case .filled, .cancelled, .rejected, .expired: return 0
        case .open, .partiallyFilled: return ordered.map { max($0 - filled, 0) }
        }
    }

    /// One FILL activity: each has its own id (`20210510100104650::uuid`), also for partial fills.
    static func fill(_ fields: JSONFields) throws(BrokerError) -> BrokerTrade {
        BrokerTrade(
            brokerTradeID: try fields.text("id"),
            brokerOrderID: try fields.text("order_id"),
            symbol: try fields.text("symbol"),
            exchange: nil,
            side: try fields.word("side", sides),
            quantity: try fields.decimal("qty"),
            price: try fields.decimal("price"),
            executedAt: try fields.date("transaction_time", WireTime.rfc3339),
            orderRemainingQuantity: try fields.optionalDecimal("leaves_qty"))
    }

    /// Alpaca's `qty` is signed for shorts; `side: short` makes sure of it.
    static func position(_ fields: JSONFields) throws(BrokerError) -> BrokerPosition {
        var quantity = try fields.decimal("qty")
        if try fields.optionalText("side")?.lowercased() == "short", quantity > 0 { quantity = -quantity }
        return BrokerPosition(
            symbol: try fields.text("symbol"),
            exchange: try fields.optionalText("exchange"),
            quantity: quantity,
            averagePrice: try fields.decimal("avg_entry_price"),
            lastPrice: try fields.optionalDecimal("current_price"),
            unrealizedPnl: try fields.optionalDecimal("unrealized_pl"))
    }

    /// `GET /v2/account`: `buying_power` is what an order may use now (margin included for a margin
    /// account, cash otherwise); `equity` = cash + long_market_value + short_market_value (the
    /// latter negative), as Alpaca documents it.
    static func funds(_ fields: JSONFields) throws(BrokerError) -> BrokerFunds {
        BrokerFunds(
            currency: try fields.text("currency"),
            available: try fields.decimal("buying_power"),
            cash: try fields.optionalDecimal("cash"),
            total: try fields.optionalDecimal("equity"))
    }
}
