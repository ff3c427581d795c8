import TMCore
import TMRisk

extension AnalyticsContext {
    /// Sets the latest price (the price cache's) open lots of `symbol` on `exchange` are marked at.
    public mutating func setLatestPrice(_ price: FixedDecimal, symbol: String, exchange: String) {
        latestPrices[InstrumentKey(symbol: symbol, exchange: exchange)] = price
    }
}
