import Foundation
import TMCore
import TMHTTP

/// Upstox API v2: orders on the order host (`https://api-hft.upstox.com`), everything else on
/// `https://api.upstox.com`.
///
/// Guarantees: `Authorization: Bearer TOKEN`, `Accept: application/json` and `Api-Version: 2.0` on
/// every call, the token opened only while the request is built; JSON bodies with prices as exact
/// JSON numbers; the client order id goes in `tag` (≤ 20 characters, checked before sending) and is
/// looked up with `GET /v2/order/history?tag=`. The platform's symbol is the trading symbol
/// (`trading_symbol`, then `tradingsymbol`: `INFY`, as Kite and the `instruments` table name it) in
/// orders, trades and positions; orders and quotes go out by instrument key (`NSE_EQ|INE009A01021`,
/// `OrderRequest.brokerToken` / `InstrumentRef.brokerToken`), refused unsent when there is none —
/// unless the symbol itself is a key (contains `|`), which existing callers still pass. Upstox
/// acknowledges a placement or a modification with an order id only, so both return the order as
/// sent with status `open`. Errors are mapped by `UpstoxErrors`.
///
/// Reported by Upstox and not kept, with the reason: `instrument_token` of orders, trades and
/// positions (the trading symbol is the platform's name; the key is in `instruments.broker_tokens`);
/// `exchange_order_id`, `order_ref_id`, `order_request_id`, `guid`, `parent_order_id`, `variety`,
/// `placed_by` (Upstox's `order_id` is the handle); `status_message_raw` (the RMS text behind
/// `status_message`, which is kept); `validity`, `disclosed_quantity`, `is_amo` (echo what was
/// sent); position `value`, `pnl`, `buy_value`, `sell_value`, `day_*`, `overnight_*` (derivable from
/// the quantity, prices and P&L, which are kept; `buy_price`/`sell_price` stand in for a null
/// `average_price`), `close_price` (yesterday's close: market data, not the account's); funds parts
/// listed at `UpstoxWire.funds`.
public struct UpstoxAdapter: BrokerAdapter, LastPriceSource {
    public let broker = BrokerKind.upstox
    let baseURL: String
    let orderBaseURL: String
    let transport: BrokerTransport
    static let dialect = IndianBrokerWire.Dialect(
        broker: .upstox, symbolFields: ["trading_symbol", "tradingsymbol"], fillTimeFields: ["exchange_timestamp", "order_timestamp"],
        updateTimeFields: ["exchange_timestamp"])

    public init(baseURL: String, orderBaseURL: String, http: AsyncHTTPClient, timeouts: BrokerTimeouts = BrokerTimeouts()) {
        self.init(baseURL: baseURL, orderBaseURL: orderBaseURL, transport: BrokerTransport(http: http, timeouts: timeouts))
    }

    init(baseURL: String, orderBaseURL: String, transport: BrokerTransport) {
        self.baseURL = baseURL
        self.orderBaseURL = orderBaseURL
        self.transport = transport
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(order.clientOrderID, for: .upstox)
        let body = try placementBody(order)
        let data = try await call(.post, orderBaseURL, "/v2/order/place", body: body, effect: .change,
                                  context: "upstox order placement", credentials: credentials)
        let orderID = try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> String in
            try JSONFields(data, context: "upstox order placement").text("order_id")
        }
        return BrokerOrder(brokerOrderID: orderID, clientOrderID: order.clientOrderID, symbol: order.symbol,
                           exchange: order.exchange, side: order.side, type: order.type, quantity: order.quantity,
                           filledQuantity: 0, averagePrice: nil, limitPrice: order.limitPrice, status: .open)
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        let data: JSONValue
        do {
            data = try await call(.get, baseURL, "/v2/order/history", query: [("tag", clientOrderID)], effect: .read,
                                  context: "upstox order history", credentials: credentials)
        } catch .notFound {
            return nil
        }
        // The history lists every state the order went through; the last is the current one.
        let states = try data.rows(context: "upstox order")
        guard let latest = states.last else { return nil }
        return try IndianBrokerWire.order(latest, Self.dialect)
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        _ = try await call(.delete, orderBaseURL, "/v2/order/cancel", query: [("order_id", brokerOrderID)], effect: .change,
                           context: "upstox order cancellation", credentials: credentials)
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        let data = try await call(.get, baseURL, "/v2/order/retrieve-all", effect: .read, context: "upstox orders",
                                  credentials: credentials)
        var orders: [BrokerOrder] = []
        for row in try data.rows(context: "upstox order") { orders.append(try IndianBrokerWire.order(row, Self.dialect)) }
        return orders
    }

    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        let data = try await call(.get, baseURL, "/v2/order/trades/get-trades-for-day", effect: .read, context: "upstox trades",
                                  credentials: credentials)
        var trades: [BrokerTrade] = []
        for row in try data.rows(context: "upstox trade") { trades.append(try IndianBrokerWire.trade(row, Self.dialect)) }
        return DayTradeCursor.batch(trades, since: cursor)
    }

    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        let data = try await call(.get, baseURL, "/v2/portfolio/short-term-positions", effect: .read, context: "upstox positions",
                                  credentials: credentials)
        var lines: [BrokerPosition] = []
        for row in try data.rows(context: "upstox position") { lines.append(try IndianBrokerWire.positionLine(row, Self.dialect)) }
        return IndianBrokerWire.net(lines)
    }

    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        let body = try modificationBody(modification)
        let data = try await call(.put, orderBaseURL, "/v2/order/modify", body: body, effect: .change,
                                  context: "upstox order modification", credentials: credentials)
        let orderID = try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> String in
            try JSONFields(data, context: "upstox order modification").text("order_id")
        }
        return BrokerOrder(brokerOrderID: orderID, clientOrderID: nil, symbol: modification.symbol, exchange: modification.exchange,
                           side: modification.side, type: modification.type, quantity: modification.quantity, filledQuantity: 0,
                           averagePrice: nil, limitPrice: modification.limitPrice, status: .open, stopPrice: modification.stopPrice)
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        let data = try await call(.get, baseURL, "/v2/user/get-funds-and-margin", effect: .read, context: "upstox funds",
                                  credentials: credentials)
        return try UpstoxWire.funds(data)
    }

    /// `GET /v2/market-quote/ltp?instrument_key=K1,K2`, up to 500 keys a request (`QuoteBatches`).
    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await quoted(instruments, path: "/v2/market-quote/ltp", query: [], context: "upstox last prices", credentials: credentials) { quote throws(BrokerError) in
            (try quote.decimal("last_price"), nil)
        }
    }
}
