import Foundation
import TMCore

/// What only Upstox sends or needs: instrument keys for orders and quotes, the funds of its two
/// segments, and last prices keyed by `EXCHANGE_SEGMENT:TRADINGSYMBOL`.
///
/// Guarantees: an order or quote is never sent without an instrument key (refused before sending,
/// naming the field); money is read exactly; a quote is matched back to the instrument asked for by
/// its `instrument_token`, never by position or by the symbol in the answer's key.
enum UpstoxWire {
    /// Upstox's instrument key for an instrument: the `brokerToken` (from `instruments.broker_tokens`)
    /// or, for callers that still pass the key as the symbol, a symbol that is itself a key
    /// (`NSE_EQ|INE848E01016`, recognisable by its `|`).
    static func instrumentKey(symbol: String, brokerToken: String?, field: String) throws(BrokerError) -> String {
        if let token = brokerToken?.trimmingCharacters(in: .whitespaces), !token.isEmpty { return token }
        if symbol.contains("|") { return symbol }
        throw .rejected(reason: "upstox needs the instrument key of \(symbol) in \(field) (e.g. NSE_EQ|INE848E01016, "
                        + "from instruments.broker_tokens)", code: "MISSING_INSTRUMENT_KEY")
    }

    /// The segments `GET /v2/user/get-funds-and-margin` reports, in a fixed order.
    static let fundSegments = ["equity", "commodity"]

    /// One `BrokerFunds` per segment present, in INR. Not kept: `payin_amount`, `span_margin`,
    /// `exposure_margin`, `adhoc_margin`, `notional_cash` — parts of what `used_margin` and
    /// `available_margin` already total, which is what an order may use.
    static func funds(_ data: JSONValue) throws(BrokerError) -> [BrokerFunds] {
        let segments = try JSONFields(data, context: "upstox funds")
        var funds: [BrokerFunds] = []
        for segment in fundSegments where segments.has(segment) {
            let fields = try segments.object(segment)
            funds.append(BrokerFunds(segment: segment, currency: "INR", available: try fields.decimal("available_margin"),
                                     used: try fields.optionalDecimal("used_margin")))
        }
        return funds
    }

    /// The quotes of a market-quote call for the instruments asked (their keys in `keys`, in the
    /// same order), matched by `instrument_token`; `read` takes one quote to (last price, previous
    /// close). An instrument Upstox left out of the answer is left out here too.
    static func quotes(_ data: JSONValue, asked instruments: [InstrumentRef], keys: [String], context: String,
                       read: (JSONFields) throws(BrokerError) -> (Decimal, Decimal?)) throws(BrokerError) -> [LastPrice] {
        guard let quotes = data.objectFields else { throw .invalidResponse(reason: "\(context): expected a JSON object") }
        var prices: [String: (Decimal, Decimal?)] = [:]
        for (_, quote) in quotes {
            let fields = try JSONFields(quote, context: context)
            prices[try fields.text("instrument_token")] = try read(fields)
        }
        return zip(instruments, keys).compactMap { instrument, key in
            prices[key].map { LastPrice(instrument: instrument, price: $0.0, previousClose: $0.1) }
        }
    }
}
