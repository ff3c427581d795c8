import Foundation
import TMCore

extension KiteAdapter {
    /// `GET /quote/ohlc?i=EXCHANGE:TRADINGSYMBOL&i=...` (up to 1,000 instruments a call): the last
    /// price with the day's `ohlc`, whose `close` is the previous session's close while the market
    /// trades (Kite's documented meaning; after the close it is the day's own close).
    public func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await quoted(instruments, path: "/quote/ohlc", context: "kite ohlc quotes", credentials: credentials) { quote throws(BrokerError) in
            let ohlc = quote.has("ohlc") ? try quote.object("ohlc") : nil
            return (try quote.decimal("last_price"), try ohlc?.optionalDecimal("close"))
        }
    }

    /// One Kite quote endpoint over `instruments` in batches: the answer is an object keyed
    /// `EXCHANGE:TRADINGSYMBOL` as asked; `read` takes one quote to (last price, previous close).
    func quoted(_ instruments: [InstrumentRef], path: String, context: String, credentials: BrokerCredentials,
                read: (JSONFields) throws(BrokerError) -> (Decimal, Decimal?)) async throws(BrokerError) -> [LastPrice] {
        var prices: [LastPrice] = []
        for batch in QuoteBatches.batches(instruments, .kite) {
            let keys = batch.map(Self.quoteKey).distinctInOrder()
            let data = try await call(.get, path, query: keys.map { ("i", $0) }, effect: .read, context: context, credentials: credentials)
            let quotes = try JSONFields(data, context: context)
            for instrument in batch where quotes.has(Self.quoteKey(instrument)) {
                let (price, close) = try read(try quotes.object(Self.quoteKey(instrument)))
                prices.append(LastPrice(instrument: instrument, price: price, previousClose: close))
            }
        }
        return prices
    }
}
