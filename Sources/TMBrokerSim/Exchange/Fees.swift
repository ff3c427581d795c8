import Foundation

/// The fee charged on a fill.
///
/// Binance charges 0.1%: on a buy in the base asset (less of what was bought arrives), on a sell in
/// the quote asset. Alpaca charges no commission; Kite and Upstox report no fee on their trades.
enum Fees {
    static func fee(for broker: Broker, instrument: Instrument, side: Side, quantity: Decimal, price: Decimal) -> (Decimal, String) {
        switch broker {
        case .binance:
            let rate = Decimal(string: "0.001")!
            return side == .buy ? ((quantity * rate).rounded(scale: 8), instrument.baseAsset)
                                : ((quantity * price * rate).rounded(scale: 8), instrument.quoteAsset)
        case .alpaca, .kite, .upstox:
            return (0, instrument.quoteAsset)
        }
    }
}
