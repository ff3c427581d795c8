import Foundation
import TMCore

extension AlpacaAdapter {
    /// `GET /v2/stocks/snapshots?symbols=A,B` on the market-data host (100 symbols a request): per
    /// symbol, `latestTrade.p` is the last price and `prevDailyBar.c` the previous session's close.
    public func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await bySymbol(instruments, path: "/v2/stocks/snapshots", context: "alpaca snapshots", credentials: credentials) { answer throws(BrokerError) in
            var found: [String: LastPrice] = [:]
            for symbol in answer.members.keys where answer.has(symbol) {
                let snapshot = try answer.object(symbol)
                guard snapshot.has("latestTrade") else { continue }
                let trade = try snapshot.object("latestTrade")
                let previous = snapshot.has("prevDailyBar") ? try snapshot.object("prevDailyBar") : nil
                found[symbol] = LastPrice(instrument: InstrumentRef(symbol: symbol), price: try trade.decimal("p"),
                                          tradedAt: try trade.optionalDate("t", WireTime.rfc3339), previousClose: try previous?.optionalDecimal("c"))
            }
            return found
        }
    }

    /// One multi-symbol market-data endpoint over `instruments`, 100 distinct symbols a request;
    /// `read` maps one answer to prices by symbol, which are handed back to each instrument asked.
    func bySymbol(_ instruments: [InstrumentRef], path: String, context: String, credentials: BrokerCredentials,
                  read: (JSONFields) throws(BrokerError) -> [String: LastPrice]) async throws(BrokerError) -> [LastPrice] {
        var found: [String: LastPrice] = [:]
        for batch in QuoteBatches.batches(instruments.map(\.symbol).distinctInOrder(), .alpaca) {
            let answer = try await call(.get, path, base: dataBaseURL, query: [("symbols", batch.joined(separator: ","))],
                                        effect: .read, context: context, credentials: credentials)
            found.merge(try read(try JSONFields(answer, context: context))) { $1 }
        }
        return instruments.compactMap { instrument in
            found[instrument.symbol].map { LastPrice(instrument: instrument, price: $0.price, tradedAt: $0.tradedAt, previousClose: $0.previousClose) }
        }
    }
}
