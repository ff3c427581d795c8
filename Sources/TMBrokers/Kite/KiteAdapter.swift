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
/// with status `open`; a modification likewise returns the order as sent. Errors are mapped by
/// `KiteErrors`. Kept from Kite's answers beyond the basics: `product` (CNC/MIS/NRML/MTF) of orders
/// and trades, `trigger_price`, `pending_quantity`, a position's `multiplier` (exposure), its
/// `last_price`, `unrealised` and `realised`.
///
/// What Kite reports that the platform ignores, and why:
/// - orders: `exchange_order_id` (Kite's `order_id` is the handle every call takes), `placed_by`
///   and `guid` (the account is known), `parent_order_id` and `variety` (the platform places regular
///   orders only), `status_message_raw` (`status_message` is kept), `modified`, `validity`,
///   `validity_ttl`, `disclosed_quantity`, `market_protection`, `auction_number`, `meta` (iceberg
///   legs), `cancelled_quantity` (quantity − filled of a cancelled order), `instrument_token` (the
///   trading symbol is the platform's key), `tags` beyond the first (the first is the client id
///   when `tag` is null);
/// - trades: `exchange_order_id`, `instrument_token`, `order_timestamp` (the fill's own time is kept);
/// - positions: the `day` list (the `net` list is the position), `overnight_quantity`,
///   `close_price`, `value`, `pnl` and `m2m` (realised and unrealised are kept apart), the
///   `buy_*`/`sell_*`/`day_*` totals (their average and P&L are kept), `token`/`instrument_token`;
/// - margins: `enabled`, `available.*` but `cash`, `utilised.*` but `debits` (the margin breakdown
///   is Kite's risk arithmetic, not something the platform acts on); ltp: `instrument_token`.
public struct KiteAdapter: BrokerAdapter, LastPriceSource {
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

    /// `PUT /orders/regular/{order_id}` with the new quantity, prices, type and validity. Kite answers
    /// with the order id only, so the order is returned as sent (status `open`, nothing known filled)
    /// rather than read back: Kite applies a modification asynchronously (its book shows
    /// `MODIFY PENDING` or the old values for a moment), so a read-back would often return the old
    /// order, and a failed read-back would report a modification that took effect as failed. The
    /// next sync reads the order as Kite then has it (with its tag and fills).
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        let (form, prices) = try modificationForm(modification)
        let path = "/orders/\(variety)/\(HTTPRequest.percentEncode(modification.brokerOrderID))"
        let data = try await call(.put, path, form: form, effect: .change, context: "kite order modification", credentials: credentials)
        let orderID = try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> String in
            try JSONFields(data, context: "kite order modification").text("order_id")
        }
        return BrokerOrder(brokerOrderID: orderID, clientOrderID: nil, symbol: modification.symbol,
                           exchange: modification.exchange ?? "NSE", side: modification.side, type: modification.type,
                           quantity: modification.quantity, filledQuantity: 0, averagePrice: nil, limitPrice: prices.limit, status: .open,
                           stopPrice: prices.stop)
    }

    /// `GET /user/margins`: one `BrokerFunds` per segment Kite reports (equity, commodity), in INR:
    /// `net` is what new orders may use, `available.cash` the cash, `utilised.debits` what is tied up.
    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        let data = try await call(.get, "/user/margins", effect: .read, context: "kite margins", credentials: credentials)
        let margins = try JSONFields(data, context: "kite margins")
        var funds: [BrokerFunds] = []
        for segment in Self.segments where margins.has(segment) {
            let fields = try margins.object(segment)
            funds.append(BrokerFunds(segment: segment, currency: "INR", available: try fields.decimal("net"),
                                     cash: try fields.object("available").optionalDecimal("cash"),
                                     used: try fields.object("utilised").optionalDecimal("debits")))
        }
        return funds
    }

    /// `GET /quote/ltp?i=EXCHANGE:TRADINGSYMBOL&i=...`, up to 1,000 instruments a call (Kite's
    /// limit, `QuoteBatches`); an instrument Kite does not know is absent from its answer and so from the result.
    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await quoted(instruments, path: "/quote/ltp", context: "kite last prices", credentials: credentials) { quote throws(BrokerError) in
            (try quote.decimal("last_price"), nil)
        }
    }

    /// Kite's margin segments, in the order reported.
    static let segments = ["equity", "commodity"]
    /// Kite's instrument key, `EXCHANGE:TRADINGSYMBOL` (NSE when the platform names no exchange).
    static func quoteKey(_ instrument: InstrumentRef) -> String { "\(instrument.exchange ?? "NSE"):\(instrument.symbol)" }
}
