import Foundation
import TMCore

extension UpstoxAdapter {
    /// `GET /v3/market-quote/ohlc?instrument_key=K1,K2&interval=1d` (up to 500 keys a request): the
    /// last price with `prev_ohlc`, the previous session's daily candle, whose `close` is the
    /// previous close (`live_ohlc` is today's and is not read).
    public func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await quoted(instruments, path: "/v3/market-quote/ohlc", query: [("interval", "1d")], context: "upstox ohlc quotes",
                         credentials: credentials) { quote throws(BrokerError) in
            let previous = quote.has("prev_ohlc") ? try quote.object("prev_ohlc") : nil
            return (try quote.decimal("last_price"), try previous?.optionalDecimal("close"))
        }
    }

    /// One Upstox market-quote endpoint over `instruments` in batches of instrument keys (an
    /// instrument without a key is refused before anything is sent, naming the field).
    func quoted(_ instruments: [InstrumentRef], path: String, query: [(String, String)], context: String, credentials: BrokerCredentials,
                read: (JSONFields) throws(BrokerError) -> (Decimal, Decimal?)) async throws(BrokerError) -> [LastPrice] {
        var prices: [LastPrice] = []
        for batch in QuoteBatches.batches(instruments, .upstox) {
            var keys: [String] = []
            for instrument in batch {
                keys.append(try UpstoxWire.instrumentKey(symbol: instrument.symbol, brokerToken: instrument.brokerToken,
                                                         field: "InstrumentRef.brokerToken"))
            }
            let data = try await call(.get, baseURL, path, query: [("instrument_key", keys.distinctInOrder().joined(separator: ","))] + query,
                                      effect: .read, context: context, credentials: credentials)
            prices += try UpstoxWire.quotes(data, asked: Array(batch), keys: keys, context: context, read: read)
        }
        return prices
    }
}
