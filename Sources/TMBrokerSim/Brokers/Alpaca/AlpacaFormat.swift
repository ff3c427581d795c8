import Foundation
import TMCore

/// Alpaca Trading API v2's JSON: decimals as strings, RFC 3339 UTC times, `{"code":..,"message":..}` errors.
enum AlpacaFormat {
    static func error(_ status: Int, code: Int, _ message: String, headers: [(name: String, value: String)] = []) -> HTTPServerResponse {
        .json(status, ["code": .int(code), "message": .string(message)], headers: headers)
    }

    /// Alpaca's error codes are the HTTP status followed by five digits (40110000, 42210000, ...).
    static func error(_ status: Int, _ message: String) -> HTTPServerResponse { error(status, code: status * 100_000, message) }

    static func invalid(_ message: String) -> HTTPServerResponse { error(422, code: 40_010_001, message) }

    static func status(_ order: SimOrder) -> String {
        if order.replacedBy != nil { return "replaced" }
        switch order.status {
        case .open: return "new"
        case .partiallyFilled: return "partially_filled"
        case .filled: return "filled"
        case .cancelled: return "canceled"
        case .rejected: return "rejected"
        }
    }

    static func text(_ value: Decimal) -> JSONValue { .string(DecimalText.plain(value)) }
    static func time(_ date: Date?) -> JSONValue { date.map { .string(Timestamps.rfc3339($0)) } ?? nil }

    static func order(_ order: SimOrder) -> JSONValue {
        let type: JSONValue = order.ticket.type == .market ? "market" : "limit"
        return [
            "id": .string(order.id), "client_order_id": .optional(order.clientOrderID), "created_at": time(order.createdAt),
            "updated_at": time(order.updatedAt), "submitted_at": time(order.createdAt), "filled_at": time(order.filledAt),
            "expired_at": nil, "canceled_at": order.replacedBy == nil ? time(order.cancelledAt) : nil, "failed_at": nil,
            "replaced_at": order.replacedBy == nil ? nil : time(order.cancelledAt), "replaced_by": .optional(order.replacedBy),
            "replaces": .optional(order.replaces), "asset_id": .string(order.instrument.assetID), "symbol": .string(order.symbol), "asset_class": "us_equity",
            "notional": nil, "qty": text(order.quantity), "filled_qty": text(order.filledQuantity),
            "filled_avg_price": order.averagePrice.map { text($0.rounded(scale: 4)) } ?? nil, "order_class": "", "order_type": type,
            "type": type, "side": .string(order.side.rawValue), "time_in_force": .string(order.ticket.timeInForce),
            "limit_price": order.ticket.limitPrice.map(text) ?? nil, "stop_price": nil, "status": .string(status(order)),
            "extended_hours": false, "legs": nil, "trail_percent": nil, "trail_price": nil, "hwm": nil,
        ]
    }

    static func fill(_ trade: SimTrade, orderStatus: String) -> JSONValue {
        [
            "id": .string(trade.id), "activity_type": "FILL", "transaction_time": time(trade.time),
            "type": trade.leavesQuantity > 0 ? "partial_fill" : "fill", "price": text(trade.price), "qty": text(trade.quantity),
            "side": .string(trade.side.rawValue), "symbol": .string(trade.symbol), "leaves_qty": text(trade.leavesQuantity),
            "order_id": .string(trade.orderID), "cum_qty": text(trade.cumulativeQuantity), "order_status": .string(orderStatus),
        ]
    }

    static func position(_ line: PositionLine) -> JSONValue {
        let quantity = abs(line.quantity)
        let cost = (line.averagePrice * line.quantity).rounded(scale: 4)
        let value = (line.lastPrice * line.quantity).rounded(scale: 4)
        let plpc = cost == 0 ? Decimal(0) : ((value - cost) / abs(cost)).rounded(scale: 6)
        // The money fields, also repeated in USD under `usd` (the account currency is USD here).
        let money: [(key: String, value: JSONValue)] = [
            ("avg_entry_price", text(line.averagePrice.rounded(scale: 4))), ("market_value", text(value)), ("cost_basis", text(cost)),
            ("unrealized_pl", text(value - cost)), ("unrealized_plpc", text(plpc)), ("unrealized_intraday_pl", text(value - cost)),
            ("unrealized_intraday_plpc", text(plpc)), ("current_price", text(line.lastPrice)),
            ("lastday_price", text(line.instrument.basePrice)), ("change_today", "0"),
        ]
        let identity: [(key: String, value: JSONValue)] = [
            ("asset_id", .string(line.instrument.assetID)), ("symbol", .string(line.instrument.symbol)),
            ("exchange", .string(line.instrument.exchange)), ("asset_class", "us_equity"), ("asset_marginable", true),
            ("qty", text(line.quantity)), ("side", line.quantity >= 0 ? "long" : "short"), ("qty_available", text(quantity)),
        ]
        return .object(identity + money + [("usd", .object(money))])
    }

    /// One latest trade of the market-data API: `p` a JSON number, `t` RFC 3339.
    static func latestTrade(price: Decimal, at time: Date, id: Int64) -> JSONValue {
        [
            "t": .string(Timestamps.rfc3339(time)), "x": "V", "p": .number(DecimalText.plain(price)), "s": 100, "c": ["@"],
            "i": .number(String(id)), "z": "C",
        ]
    }
}
