import Foundation
import TMCore
import TMHTTP

/// Upstox API v2: orders on the order host (`https://api-hft.upstox.com`), everything else on
/// `https://api.upstox.com`.
///
/// Guarantees: `Authorization: Bearer TOKEN`, `Accept: application/json` and `Api-Version: 2.0` on
/// every call, the token opened only while the request is built; JSON bodies with prices as exact
/// JSON numbers; the client order id goes in `tag` (≤ 20 characters, checked before sending) and is
/// looked up with `GET /v2/order/history?tag=`. Symbols are Upstox instrument keys
/// (`NSE_EQ|INE848E01016`) both ways. Upstox acknowledges a placement with an order id only, so
/// `placeOrder` returns the order as sent with status `open`. Errors are mapped by `UpstoxErrors`.
public struct UpstoxAdapter: BrokerAdapter {
    public let broker = BrokerKind.upstox
    let baseURL: String
    let orderBaseURL: String
    let transport: BrokerTransport
    static let dialect = IndianBrokerWire.Dialect(
        broker: .upstox, symbolFields: ["instrument_token"], fillTimeFields: ["exchange_timestamp", "order_timestamp"],
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

    // INTERIM (issue 10, being built): replaced by the real calls before the issue closes.
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        throw BrokerError.unavailable(reason: "upstox modify: not built yet")
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        throw BrokerError.unavailable(reason: "upstox funds: not built yet")
    }

    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        throw BrokerError.unavailable(reason: "upstox last prices: not built yet")
    }
}
