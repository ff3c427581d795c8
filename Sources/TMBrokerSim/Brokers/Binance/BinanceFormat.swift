import Foundation
import TMCore

/// Binance's refusal of one request: its code and message (`{"code":..,"msg":..}`).
struct BinanceRefusal: Error, Sendable {
    let code: Int
    let message: String
}

/// Binance Spot's JSON: decimals as 8-place strings, times in epoch milliseconds, `{"code":..,"msg":..}` errors.
enum BinanceFormat {
    static func error(_ status: Int, _ code: Int, _ message: String, headers: [(name: String, value: String)] = []) -> HTTPServerResponse {
        .json(status, ["code": .int(code), "msg": .string(message)], headers: headers)
    }

    static func missing(_ parameter: String) -> HTTPServerResponse {
        error(400, -1102, "Mandatory parameter '\(parameter)' was not sent, was empty/null, or malformed.")
    }

    static func text(_ value: Decimal) -> JSONValue { .string(DecimalText.fixed(value, scale: 8)) }
    static func millis(_ date: Date) -> JSONValue { .int(Timestamps.milliseconds(date)) }

    static func status(_ order: SimOrder) -> String {
        switch order.status {
        case .open: return "NEW"
        case .partiallyFilled: return "PARTIALLY_FILLED"
        case .filled: return "FILLED"
        case .cancelled: return "CANCELED"
        case .rejected: return "REJECTED"
        }
    }

    /// The fields every order view shares, in Binance's order.
    private static func core(_ order: SimOrder) -> [(key: String, value: JSONValue)] {
        [
            ("price", text(order.ticket.limitPrice ?? 0)), ("origQty", text(order.quantity)), ("executedQty", text(order.filledQuantity)),
            ("cummulativeQuoteQty", text(order.filledValue)), ("status", .string(status(order))),
            ("timeInForce", .string(order.ticket.timeInForce)), ("type", .string(order.ticket.type == .market ? "MARKET" : "LIMIT")),
            ("side", .string(order.side == .buy ? "BUY" : "SELL")),
        ]
    }

    /// `GET /api/v3/order`, `openOrders`, `allOrders`.
    static func order(_ order: SimOrder) -> JSONValue {
        .object([("symbol", .string(order.symbol)), ("orderId", .int(order.number)), ("orderListId", -1),
                 ("clientOrderId", .optional(order.clientOrderID))] + core(order) + [
            ("stopPrice", text(0)), ("icebergQty", text(0)), ("time", millis(order.createdAt)), ("updateTime", millis(order.updatedAt)),
            ("isWorking", true), ("workingTime", millis(order.createdAt)), ("origQuoteOrderQty", text(0)),
            ("selfTradePreventionMode", "EXPIRE_MAKER"),
        ])
    }

    /// `POST /api/v3/order` in the ACK, RESULT or FULL form.
    static func placed(_ order: SimOrder, trades: [SimTrade], responseType: String) -> JSONValue {
        var fields: [(key: String, value: JSONValue)] = [("symbol", .string(order.symbol)), ("orderId", .int(order.number)), ("orderListId", -1),
                                        ("clientOrderId", .optional(order.clientOrderID)), ("transactTime", millis(order.createdAt))]
        guard responseType != "ACK" else { return .object(fields) }
        fields += core(order) + [("workingTime", millis(order.createdAt)), ("selfTradePreventionMode", "EXPIRE_MAKER")]
        if responseType == "FULL" {
            fields.append(("fills", .array(trades.map { trade in
                ["price": text(trade.price), "qty": text(trade.quantity), "commission": text(trade.fee),
                 "commissionAsset": .string(trade.feeAsset), "tradeId": .int(trade.number)]
            })))
        }
        return .object(fields)
    }

    static func cancelled(_ order: SimOrder, at time: Date) -> JSONValue {
        .object([("symbol", .string(order.symbol)), ("origClientOrderId", .optional(order.clientOrderID)), ("orderId", .int(order.number)),
                 ("orderListId", -1), ("clientOrderId", .string("cancel\(order.number)")), ("transactTime", millis(time))]
                + core(order) + [("selfTradePreventionMode", "EXPIRE_MAKER")])
    }

    /// A `cancelReplace` answer: both halves done (200), or `-2021` (one half failed; 409 when the
    /// replacement was placed although the cancel failed, as Binance does) / `-2022` (nothing done)
    /// with each half's result in `data`.
    static func cancelReplace(cancel: Result<JSONValue, BinanceRefusal>, new: Result<JSONValue, BinanceRefusal>?) -> HTTPServerResponse {
        func half(_ result: Result<JSONValue, BinanceRefusal>?) -> (result: String, response: JSONValue) {
            switch result {
            case .success(let answer)?: return ("SUCCESS", answer)
            case .failure(let refusal)?: return ("FAILURE", ["code": .int(refusal.code), "msg": .string(refusal.message)])
            case nil: return ("NOT_ATTEMPTED", .null)
            }
        }
        let (cancelResult, cancelResponse) = half(cancel), (newResult, newResponse) = half(new)
        let halves: JSONValue = .object([("cancelResult", .string(cancelResult)), ("newOrderResult", .string(newResult)),
                                         ("cancelResponse", cancelResponse), ("newOrderResponse", newResponse)])
        switch (cancelResult, newResult) {
        case ("SUCCESS", "SUCCESS"): return .json(200, halves)
        case ("FAILURE", "SUCCESS"): return .json(409, .object([("code", -2021), ("msg", "Order cancel-replace partially failed."), ("data", halves)]))
        case ("SUCCESS", _): return .json(400, .object([("code", -2021), ("msg", "Order cancel-replace partially failed."), ("data", halves)]))
        default: return .json(400, .object([("code", -2022), ("msg", "Order cancel-replace failed."), ("data", halves)]))
        }
    }

    static func trade(_ trade: SimTrade) -> JSONValue {
        [
            "symbol": .string(trade.symbol), "id": .int(trade.number), "orderId": .int(trade.orderNumber), "orderListId": -1,
            "price": text(trade.price), "qty": text(trade.quantity), "quoteQty": text(trade.quantity * trade.price),
            "commission": text(trade.fee), "commissionAsset": .string(trade.feeAsset), "time": millis(trade.time),
            "isBuyer": .bool(trade.side == .buy), "isMaker": .bool(trade.isMaker), "isBestMatch": true,
        ]
    }
}
