import Foundation
import TMCore
import TMHTTP

/// Zerodha Kite Connect v3 (`https://api.kite.trade`).
///
/// Guarantees: `X-Kite-Version: 3` and `Authorization: token API_KEY:ACCESS_TOKEN` on every call,
/// opened only while the request is built; POST bodies form-encoded; the client order id goes in
/// `tag` and a tag Kite would refuse (over 20 characters) is rejected before anything is sent;
/// look-up by client id reads the day's order book and matches the tag (Kite has no other way).
/// Kite acknowledges a placement with an order id only, so `placeOrder` returns the order as sent
/// with status `open`. Errors are mapped by `KiteErrors`.
public struct KiteAdapter: BrokerAdapter {
    public let broker = BrokerKind.kite
    let baseURL: String
    let transport: BrokerTransport
    /// The Kite order variety used to place and cancel.
    let variety = "regular"
    /// `market_protection` sent with MARKET and SL-M orders: -1 lets Kite choose the band (the
    /// exchanges refuse API market orders without protection).
    let marketProtection = "-1"
    static let dialect = IndianBrokerWire.Dialect(
        broker: .kite, symbolFields: ["tradingsymbol"], fillTimeFields: ["fill_timestamp", "exchange_timestamp"],
        updateTimeFields: ["exchange_update_timestamp", "exchange_timestamp"])

    public init(baseURL: String, http: AsyncHTTPClient, timeouts: BrokerTimeouts = BrokerTimeouts()) {
        self.init(baseURL: baseURL, transport: BrokerTransport(http: http, timeouts: timeouts))
    }

    init(baseURL: String, transport: BrokerTransport) {
        self.baseURL = baseURL
        self.transport = transport
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(order.clientOrderID, for: .kite)
        let form = try placementForm(order)
        let data = try await call(.post, "/orders/\(variety)", form: form, effect: .change, context: "kite order placement",
                                  credentials: credentials)
        let orderID = try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> String in
            try JSONFields(data, context: "kite order placement").text("order_id")
        }
        return BrokerOrder(brokerOrderID: orderID, clientOrderID: order.clientOrderID, symbol: order.symbol,
                           exchange: order.exchange ?? "NSE", side: order.side, type: order.type, quantity: order.quantity,
                           filledQuantity: 0, averagePrice: nil, limitPrice: order.limitPrice, status: .open)
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        let book = try await orderBook(credentials: credentials)
        // The newest order with the tag (Kite keeps no uniqueness; there should be one).
        return book.last { $0.clientOrderID == clientOrderID }
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        _ = try await call(.delete, "/orders/\(variety)/\(HTTPRequest.percentEncode(brokerOrderID))", effect: .change,
                           context: "kite order cancellation", credentials: credentials)
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        try await orderBook(credentials: credentials)
    }

    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        let data = try await call(.get, "/trades", effect: .read, context: "kite trades", credentials: credentials)
        let rows = try data.rows(context: "kite trade")
        var trades: [BrokerTrade] = []
        for row in rows { trades.append(try IndianBrokerWire.trade(row, Self.dialect)) }
        return DayTradeCursor.batch(trades, since: cursor)
    }

    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        let data = try await call(.get, "/portfolio/positions", effect: .read, context: "kite positions", credentials: credentials)
        let rows = try JSONFields(data, context: "kite positions").rows("net", context: "kite position")
        var lines: [BrokerPosition] = []
        for row in rows { lines.append(try IndianBrokerWire.positionLine(row, Self.dialect)) }
        return IndianBrokerWire.net(lines)
    }

    /// The day's orders, each with its latest status; `tag` (or Kite's newer `tags` list) is the client id.
    private func orderBook(credentials: BrokerCredentials) async throws(BrokerError) -> [BrokerOrder] {
        let data = try await call(.get, "/orders", effect: .read, context: "kite orders", credentials: credentials)
        var orders: [BrokerOrder] = []
        for row in try data.rows(context: "kite order") {
            var order = try IndianBrokerWire.order(row, Self.dialect)
            if order.clientOrderID == nil, let tags = row.members["tags"]?.arrayValue {
                order.clientOrderID = tags.compactMap(\.scalarText).first
            }
            orders.append(order)
        }
        return orders
    }

    // INTERIM (issue 10, being built): replaced by the real calls before the issue closes.
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        throw BrokerError.unavailable(reason: "kite modify: not built yet")
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        throw BrokerError.unavailable(reason: "kite funds: not built yet")
    }

    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        throw BrokerError.unavailable(reason: "kite last prices: not built yet")
    }
}
