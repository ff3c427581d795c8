import Foundation

/// A position derived from an account's trades, with the totals each broker reports.
///
/// Guarantees: derived only from trades (so a corrected trade corrects the position); the average
/// price is the average cost of the open quantity (buys raise it, sells keep it; a flip starts again
/// at the flipping trade's price); realized P&L is exact.
public struct PositionLine: Sendable {
    public let instrument: Instrument
    /// Signed: negative is short.
    public internal(set) var quantity: Decimal = 0
    public internal(set) var averagePrice: Decimal = 0
    public internal(set) var buyQuantity: Decimal = 0
    public internal(set) var buyValue: Decimal = 0
    public internal(set) var sellQuantity: Decimal = 0
    public internal(set) var sellValue: Decimal = 0
    public internal(set) var realizedPnl: Decimal = 0
    public internal(set) var lastPrice: Decimal = 0

    public var unrealizedPnl: Decimal { (lastPrice - averagePrice) * quantity }
    public var buyPrice: Decimal { buyQuantity > 0 ? (buyValue / buyQuantity).rounded(scale: 4) : 0 }
    public var sellPrice: Decimal { sellQuantity > 0 ? (sellValue / sellQuantity).rounded(scale: 4) : 0 }

    mutating func apply(_ trade: SimTrade) {
        let signed = trade.side == .buy ? trade.quantity : -trade.quantity
        if trade.side == .buy {
            buyQuantity += trade.quantity
            buyValue += trade.quantity * trade.price
        } else {
            sellQuantity += trade.quantity
            sellValue += trade.quantity * trade.price
        }
        if quantity == 0 || (quantity > 0) == (signed > 0) {
            // Opening or adding: the average cost moves.
            averagePrice = ((averagePrice * abs(quantity) + trade.price * trade.quantity) / (abs(quantity) + trade.quantity)).rounded(scale: 8)
            quantity += signed
            return
        }
        // Reducing, closing or flipping.
        let closing = min(abs(quantity), trade.quantity)
        realizedPnl += (trade.price - averagePrice) * closing * (quantity > 0 ? 1 : -1)
        quantity += signed
        if quantity == 0 { averagePrice = 0 } else if (quantity > 0) == (signed > 0) { averagePrice = trade.price }
    }
}

extension Exchange {
    /// The account's positions (one per traded instrument, including flat ones), by symbol; with
    /// `since`, from the trades at or after it only (Kite's and Upstox's "day" view).
    public func positions(_ broker: Broker, apiKey: String, since: Date? = nil) -> [PositionLine] {
        let trades = self.trades(broker, apiKey: apiKey).filter { since == nil || $0.time >= since! }.sorted { ($0.time, $0.number) < ($1.time, $1.number) }
        var lines: [String: PositionLine] = [:]
        for trade in trades {
            lines[trade.symbol, default: PositionLine(instrument: trade.instrument)].apply(trade)
        }
        return lines.keys.sorted().map { symbol in
            var line = lines[symbol]!
            line.lastPrice = price(broker, symbol) ?? 0
            return line
        }
    }
}
