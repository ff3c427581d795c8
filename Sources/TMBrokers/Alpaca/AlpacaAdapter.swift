import Foundation
import TMCore
import TMHTTP

/// Alpaca Trading API v2 (paper: `https://paper-api.alpaca.markets`) and Market Data API v2
/// (`https://data.alpaca.markets`, for last prices).
///
/// Guarantees: `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` on every call, opened only while the
/// request is built; JSON bodies with quantities and prices as exact decimal strings; the client
/// order id goes in `client_order_id` and is looked up with `GET /v2/orders:by_client_order_id`
/// (404 → nil); fills come from `GET /v2/account/activities/FILL` in ascending order, every page
/// of `pageSize` (≤ 100) consumed, resuming after the last activity id seen; a modification is
/// Alpaca's replace (`PATCH /v2/orders/{order_id}`), which answers with the *new* order (its own id,
/// the replacement's client id); funds are the account (`GET /v2/account`); last prices are the
/// latest trades (`GET /v2/stocks/trades/latest?symbols=`) on the market-data host. Errors are
/// mapped by `AlpacaErrors`.
///
/// What Alpaca reports that the platform does not keep, and why:
/// - orders: `asset_id`, `asset_class` (the symbol is the handle; equities only), `order_class`,
///   `legs`, `trail_percent`/`trail_price`/`hwm` (bracket and trailing orders are not placed by the
///   platform), `extended_hours`, `notional` (not placed; a notional order's quantity is what has
///   filled), `filled_at`/`canceled_at`/`expired_at`/`failed_at`/`replaced_at` (the status and
///   `updated_at` say the same), `replaced_by`/`replaces` (the modify call returns the replacement,
///   whose id the caller records), `time_in_force` (the platform's own order has it), `commission`
///   (the SDK mocks only; fills carry no fee on Alpaca);
/// - fill activities: `activity_type` (always FILL here), `type` (`fill`/`partial_fill`: `leaves_qty`
///   = 0 says the same and is kept as `orderRemainingQuantity`), `cum_qty` (the sum of the order's
///   fills, kept by the platform), `order_status` (the orders call reports it);
/// - positions: `asset_id`, `asset_class`, `market_value`/`cost_basis` (quantity × price),
///   `unrealized_plpc`, `unrealized_intraday_pl(pc)`, `lastday_price`, `change_today`,
///   `qty_available`, the `usd` block (the same values in USD) — derived or intraday figures;
/// - account: everything but `currency`, `buying_power`, `cash` and `equity`: the margin detail
///   (`non_marginable_buying_power`, `regt_buying_power`, `daytrading_buying_power`,
///   `initial_margin`, `maintenance_margin`, `multiplier`, `sma`) and flags (`trading_blocked`,
///   `pattern_day_trader`, ...) are not modelled by `BrokerFunds`; `buying_power` is what an order may
///   use now, including margin;
/// - latest trades: `x` (exchange), `s` (size), `c` (conditions), `i` (trade id), `z` (tape).
public struct AlpacaAdapter: BrokerAdapter, LastPriceSource {
    public let broker = BrokerKind.alpaca
    let baseURL: String
    /// The market-data host (`https://data.alpaca.markets`).
    let dataBaseURL: String
    let transport: BrokerTransport
    /// Activities per page; Alpaca allows at most 100.
    let pageSize: Int
    static let cursorKey = "page_token"

    public init(baseURL: String, dataBaseURL: String = BrokerEndpoints.production.alpacaData, http: AsyncHTTPClient,
                timeouts: BrokerTimeouts = BrokerTimeouts(), pageSize: Int = 100) {
        self.init(baseURL: baseURL, dataBaseURL: dataBaseURL, transport: BrokerTransport(http: http, timeouts: timeouts), pageSize: pageSize)
    }

    init(baseURL: String, dataBaseURL: String = BrokerEndpoints.production.alpacaData, transport: BrokerTransport, pageSize: Int = 100) {
        self.baseURL = baseURL
        self.dataBaseURL = dataBaseURL
        self.transport = transport
        self.pageSize = min(max(pageSize, 1), 100)
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(order.clientOrderID, for: .alpaca)
        let body = try placementBody(order)
        let answer = try await call(.post, "/v2/orders", body: body, effect: .change, context: "alpaca order placement",
                                    credentials: credentials)
        return try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> BrokerOrder in
            try AlpacaWire.order(try JSONFields(answer, context: "alpaca order"))
        }
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        do {
            let answer = try await call(.get, "/v2/orders:by_client_order_id", query: [("client_order_id", clientOrderID)],
                                        effect: .read, context: "alpaca order", credentials: credentials)
            return try AlpacaWire.order(try JSONFields(answer, context: "alpaca order"))
        } catch .notFound {
            return nil
        }
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        _ = try await call(.delete, "/v2/orders/\(HTTPRequest.percentEncode(brokerOrderID))", effect: .change,
                           context: "alpaca order cancellation", credentials: credentials)
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        let answer = try await call(.get, "/v2/orders", query: [("status", "all"), ("limit", "500"), ("direction", "desc")],
                                    effect: .read, context: "alpaca orders", credentials: credentials)
        var orders: [BrokerOrder] = []
        for row in try answer.rows(context: "alpaca order") { orders.append(try AlpacaWire.order(row)) }
        return orders
    }

    /// Every fill after the cursor's activity id: pages in ascending order, each starting after the
    /// previous page's last id, until a page comes back short.
    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        var trades: [BrokerTrade] = []
        var token = cursor.values[Self.cursorKey]
        var after: String?
        while true {
            var query = [("direction", "asc"), ("page_size", String(pageSize))]
            if let token { query.append(("page_token", token)) } else if let after { query.append(("after", after)) }
            let answer: JSONValue
            do {
                answer = try await call(.get, "/v2/account/activities/FILL", query: query, effect: .read,
                                        context: "alpaca activities", credentials: credentials)
            } catch {
                // Alpaca no longer knows the activity the cursor names (a reset paper account, a
                // purged history): resume from its time instead of failing every sync for good.
                // Fills read again are upserted by id, not duplicated.
                guard trades.isEmpty, after == nil, let stale = token, Self.refusesPageToken(error),
                      let resume = Self.activityTime(stale) else { throw error }
                (token, after) = (nil, resume)
                continue
            }
            let rows = try answer.rows(context: "alpaca fill activity")
            for row in rows { trades.append(try AlpacaWire.fill(row)) }
            guard rows.count == pageSize, let last = trades.last?.brokerTradeID else { break }
            // A broker that ignored page_token would loop forever on the same page.
            guard last != token else { throw BrokerError.invalidResponse(reason: "alpaca activities: paging made no progress") }
            token = last
        }
        var next = cursor
        if let last = trades.last { next.values[Self.cursorKey] = last.brokerTradeID }
        return TradeBatch(trades: trades, next: next)
    }

    static func refusesPageToken(_ error: BrokerError) -> Bool {
        if case .rejected(let reason, _) = error { return reason.contains("page_token") }
        return false
    }

    /// The time an activity id starts with (`20210510100104650::uuid`, UTC to the millisecond), one
    /// millisecond earlier, as the RFC 3339 `after` Alpaca takes (exclusive: fills of the same
    /// millisecond are read again rather than missed).
    static func activityTime(_ id: String) -> String? {
        let digits = Array(id.prefix { $0.isNumber })
        guard digits.count == 17 else { return nil }
        func part(_ from: Int, _ length: Int) -> Int? { Int(String(digits[from..<from + length])) }
        guard let year = part(0, 4), let month = part(4, 2), let day = part(6, 2), let hour = part(8, 2), let minute = part(10, 2),
              let second = part(12, 2), let millis = part(14, 3),
              let seconds = WireTime.epochSeconds(year, month, day, hour, minute, second) else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: (Double(seconds) * 1000 + Double(millis - 1)) / 1000))
    }


    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        let answer = try await call(.get, "/v2/positions", effect: .read, context: "alpaca positions", credentials: credentials)
        var positions: [BrokerPosition] = []
        for row in try answer.rows(context: "alpaca position") { positions.append(try AlpacaWire.position(row)) }
        return positions
    }

    /// Alpaca's replace: the new quantity, prices and time in force under the replacement's client
    /// id; Alpaca answers with the new order (its own id), and the old one becomes `replaced`.
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(modification.replacementClientOrderID, for: .alpaca)
        let body = try replacementBody(modification)
        let answer = try await call(.patch, "/v2/orders/\(HTTPRequest.percentEncode(modification.brokerOrderID))", body: body,
                                    effect: .change, context: "alpaca order replacement", credentials: credentials)
        return try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> BrokerOrder in
            try AlpacaWire.order(try JSONFields(answer, context: "alpaca order"))
        }
    }

    /// The account as one `BrokerFunds`: available = `buying_power`, cash, total = `equity`.
    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        let answer = try await call(.get, "/v2/account", effect: .read, context: "alpaca account", credentials: credentials)
        return [try AlpacaWire.funds(try JSONFields(answer, context: "alpaca account"))]
    }

    /// `GET /v2/stocks/trades/latest?symbols=A,B` on the market-data host, 100 symbols a request;
    /// symbols Alpaca does not answer for are left out.
    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await bySymbol(instruments, path: "/v2/stocks/trades/latest", context: "alpaca latest trades", credentials: credentials) { answer throws(BrokerError) in
            guard answer.has("trades") else { return [:] }
            let trades = try answer.object("trades")
            var found: [String: LastPrice] = [:]
            for symbol in trades.members.keys where trades.has(symbol) {
                let trade = try trades.object(symbol)
                found[symbol] = LastPrice(instrument: InstrumentRef(symbol: symbol), price: try trade.decimal("p"),
                                          tradedAt: try trade.optionalDate("t", WireTime.rfc3339))
            }
            return found
        }
    }
}
