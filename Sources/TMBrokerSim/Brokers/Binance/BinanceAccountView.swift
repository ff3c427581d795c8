import Foundation
import TMCore

/// `GET /api/v3/account`: balances derived from fills and working orders.
///
/// Every account starts with the same balances (`startingBalances`); fills move base and quote
/// assets and take the commission from its asset; working orders lock what they would spend.
enum BinanceAccountView {
    static let startingBalances: [String: Decimal] = ["USDT": 1_000_000, "BTC": 10, "ETH": 100, "BNB": 1_000]

    static func account(exchange: Exchange, apiKey: String) -> JSONValue {
        var total = startingBalances
        var locked: [String: Decimal] = [:]
        for trade in exchange.trades(.binance, apiKey: apiKey) {
            let base = trade.instrument.baseAsset, quote = trade.instrument.quoteAsset
            let sign: Decimal = trade.side == .buy ? 1 : -1
            total[base, default: 0] += sign * trade.quantity
            total[quote, default: 0] -= sign * trade.quantity * trade.price
            total[trade.feeAsset, default: 0] -= trade.fee
        }
        for order in exchange.orders(.binance, apiKey: apiKey) where order.status.isWorking {
            if order.side == .buy {
                locked[order.instrument.quoteAsset, default: 0] += order.remainingQuantity * (order.ticket.limitPrice ?? 0)
            } else {
                locked[order.instrument.baseAsset, default: 0] += order.remainingQuantity
            }
        }
        let balances: [JSONValue] = total.keys.sorted().map { asset in
            let held = locked[asset] ?? 0
            return ["asset": .string(asset), "free": BinanceFormat.text(total[asset]! - held), "locked": BinanceFormat.text(held)]
        }
        let rate = BinanceFormat.text(Decimal(string: "0.001")!)
        return [
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": ["maker": rate, "taker": rate, "buyer": BinanceFormat.text(0), "seller": BinanceFormat.text(0)],
            "canTrade": true, "canWithdraw": true, "canDeposit": true, "brokered": false, "requireSelfTradePrevention": false,
            "preventSor": false, "updateTime": .int(Timestamps.milliseconds(exchange.now())), "accountType": "SPOT",
            "balances": .array(balances), "permissions": ["SPOT"], "uid": 354_937_868,
        ]
    }
}
