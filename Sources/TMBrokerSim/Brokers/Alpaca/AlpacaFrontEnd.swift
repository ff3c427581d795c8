import Foundation
import TMCore

/// Alpaca Trading API v2: `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` headers, JSON bodies; and the
/// latest trades of Market Data API v2 (`data.alpaca.markets`, routed here as `/data/...`).
///
/// Rules kept from the real API: `client_order_id` (≤ 128 characters) can never be reused — a
/// duplicate is 422 `{"code":40010001,"message":"client_order_id must be unique"}`; look-up by
/// `GET /v2/orders:by_client_order_id`; 200 requests per minute per key, then 429; fills paged by
/// `page_token` with `page_size` ≤ 100 (newest first unless `direction=asc`); a replace
/// (`PATCH /v2/orders/{order_id}`) makes a new order and marks the old one `replaced`; latest trades
/// come from the exchange's price process at the time of the call.
public struct AlpacaFrontEnd: BrokerFrontEnd {
    public let broker = Broker.alpaca
    let context: FrontEndContext
    static let maxPageSize = 100
    static let maxClientOrderIDLength = 128

    public init(context: FrontEndContext) { self.context = context }

    public func errorResponse(status: Int, message: String) -> HTTPServerResponse { AlpacaFormat.error(status, message) }

    public func rateLimitedResponse(retryAfterSeconds: Int) -> HTTPServerResponse {
        AlpacaFormat.error(429, code: 42_910_000, "rate limit exceeded", headers: [
            ("Retry-After", String(retryAfterSeconds)), ("X-RateLimit-Limit", String(context.limits.alpacaPerMinute)), ("X-RateLimit-Remaining", "0"),
        ])
    }

    public func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        let credentials: SimCredentials
        switch authenticate(request) {
        case .refused(let refusal): return refusal
        case .accepted(let found): credentials = found
        }
        let key = credentials.apiKey
        if let refused = context.admit([("alpaca:\(key)", context.limits.alpacaPerMinute, 60_000)]) {
            return rateLimitedResponse(retryAfterSeconds: refused.retryAfterSeconds)
        }
        let exchange = context.exchange
        let query = request.queryFields
        switch (request.method, pathSegments(request.path)) {
        case ("POST", ["v2", "orders"]):
            return place(request, apiKey: key)
        case ("GET", ["v2", "orders"]):
            return listOrders(query, apiKey: key)
        case ("GET", ["v2", "orders:by_client_order_id"]):
            guard let clientID = query.nonEmpty("client_order_id"),
                  let order = exchange.orders(.alpaca, apiKey: key).first(where: { $0.clientOrderID == clientID }) else {
                return AlpacaFormat.error(404, code: 40_410_000, "order not found")
            }
            return .json(200, AlpacaFormat.order(order))
        case ("GET", let s) where s.count == 3 && s[1] == "orders":
            guard let order = exchange.order(.alpaca, apiKey: key, id: s[2]) else { return orderNotFound(s[2]) }
            return .json(200, AlpacaFormat.order(order))
        case ("DELETE", let s) where s.count == 3 && s[1] == "orders":
            return cancel(orderID: s[2], apiKey: key)
        case ("PATCH", let s) where s.count == 3 && s[1] == "orders":
            return replace(request, orderID: s[2], apiKey: key)
        case ("GET", ["data", "v2", "stocks", "trades", "latest"]):
            return latestTrades(query)
        case ("GET", ["data", "v2", "stocks", "snapshots"]):
            return snapshots(query)
        case ("GET", ["v2", "positions"]):
            let open = exchange.positions(.alpaca, apiKey: key).filter { $0.quantity != 0 }
            return .json(200, .array(open.map(AlpacaFormat.position)))
        case ("GET", ["v2", "account", "activities", "FILL"]):
            return fills(query, apiKey: key)
        case ("GET", ["v2", "account", "activities"]) where query["activity_types"] == "FILL":
            return fills(query, apiKey: key)
        case ("GET", ["v2", "account"]):
            return account(apiKey: key)
        default:
            return AlpacaFormat.error(404, code: 40_410_000, "endpoint not found")
        }
    }

    private func authenticate(_ request: HTTPServerRequest) -> Authentication {
        let refusal = AlpacaFormat.error(401, code: 40_110_000, "request is not authorized")
        guard let keyID = request.header("APCA-API-KEY-ID"), let secret = request.header("APCA-API-SECRET-KEY"),
              let credentials = context.exchange.credentials(.alpaca, apiKey: keyID), credentials.apiSecret == secret,
              credentials.tokenValid else {
            return .refused(refusal)
        }
        return .accepted(credentials)
    }

    private func orderNotFound(_ id: String) -> HTTPServerResponse {
        AlpacaFormat.error(404, code: 40_410_000, "order not found for \(id)")
    }

    // MARK: Orders

    private func place(_ request: HTTPServerRequest, apiKey: String) -> HTTPServerResponse {
        guard let body = try? JSONValue.parse(request.body), body.objectFields != nil else {
            return AlpacaFormat.invalid("request body format is invalid")
        }
        guard let symbol = body["symbol"]?.stringValue, !symbol.isEmpty else { return AlpacaFormat.invalid("symbol is required") }
        guard body["notional"] == nil || body["notional"]!.isNull else { return AlpacaFormat.invalid("notional orders are not supported by the simulator") }
        guard let quantity = body["qty"]?.decimalValue else { return AlpacaFormat.invalid("qty is required") }
        guard let sideText = body["side"]?.stringValue, let side = Side(rawValue: sideText) else { return AlpacaFormat.invalid("invalid side") }
        let type: SimOrderType
        switch body["type"]?.stringValue {
        case "market": type = .market
        case "limit": type = .limit
        case "stop", "stop_limit", "trailing_stop": return AlpacaFormat.invalid("stop orders are not supported by the simulator")
        default: return AlpacaFormat.invalid("invalid order type")
        }
        guard let timeInForce = body["time_in_force"]?.stringValue, ["day", "gtc", "opg", "cls", "ioc", "fok"].contains(timeInForce) else {
            return AlpacaFormat.invalid("invalid time_in_force")
        }
        var limitPrice: Decimal?
        if type == .limit {
            guard let price = body["limit_price"]?.decimalValue else { return AlpacaFormat.invalid("limit_price is required for limit orders") }
            limitPrice = price
        }
        let clientID = body["client_order_id"]?.stringValue ?? Identifiers.uuid(apiKey, "client", Int(Date().timeIntervalSince1970 * 1e6))
        guard !clientID.isEmpty, clientID.count <= Self.maxClientOrderIDLength else {
            return AlpacaFormat.invalid("client_order_id must be no more than \(Self.maxClientOrderIDLength) characters")
        }
        let ticket = OrderTicket(symbol: symbol, side: side, type: type, quantity: quantity, limitPrice: limitPrice, clientOrderID: clientID,
                                 timeInForce: timeInForce)
        do {
            return .json(200, AlpacaFormat.order(try context.exchange.place(.alpaca, apiKey: apiKey, ticket, clientIDRule: .uniqueForever)))
        } catch {
            return refusal(error, limitPrice: limitPrice)
        }
    }

    private func refusal(_ error: PlacementRejection, limitPrice: Decimal?) -> HTTPServerResponse {
        switch error {
        case .duplicateClientOrderID: return AlpacaFormat.invalid("client_order_id must be unique")
        case .unknownInstrument(let symbol): return AlpacaFormat.invalid("asset \"\(symbol)\" not found")
        case .nonPositiveQuantity: return AlpacaFormat.invalid("qty must be > 0")
        case .notLotMultiple: return AlpacaFormat.invalid("qty must be integer")
        case .missingLimitPrice: return AlpacaFormat.invalid("limit_price is required for limit orders")
        case .nonPositivePrice: return AlpacaFormat.invalid("limit_price must be > 0")
        case .notTickMultiple(let tick):
            return AlpacaFormat.invalid("invalid limit_price \(DecimalText.plain(limitPrice ?? 0)). sub-penny increment does not fulfill minimum pricing criteria (\(DecimalText.plain(tick)))")
        }
    }

    /// Alpaca's replace: each field sent overrides the old order's, the rest is kept; the answer is
    /// the new order. The replacement is a new order for the `qty` sent: what the old order filled
    /// stays with the old order (broker-sim carries no fills over).
    private func replace(_ request: HTTPServerRequest, orderID: String, apiKey: String) -> HTTPServerResponse {
        guard let body = try? JSONValue.parse(request.body), body.objectFields != nil else {
            return AlpacaFormat.invalid("request body format is invalid")
        }
        guard let old = context.exchange.order(.alpaca, apiKey: apiKey, id: orderID) else { return orderNotFound(orderID) }
        guard body["stop_price"] == nil || body["stop_price"]!.isNull else { return AlpacaFormat.invalid("stop orders are not supported by the simulator") }
        var ticket = old.ticket
        if let qty = body["qty"], !qty.isNull {
            guard let quantity = qty.decimalValue else { return AlpacaFormat.invalid("qty is invalid") }
            ticket.quantity = quantity
        }
        if let limit = body["limit_price"], !limit.isNull {
            guard ticket.type == .limit, let price = limit.decimalValue else { return AlpacaFormat.invalid("limit_price is invalid") }
            ticket.limitPrice = price
        }
        if let timeInForce = body["time_in_force"]?.stringValue {
            guard ["day", "gtc", "opg", "cls", "ioc", "fok"].contains(timeInForce) else { return AlpacaFormat.invalid("invalid time_in_force") }
            ticket.timeInForce = timeInForce
        }
        ticket.clientOrderID = body["client_order_id"]?.stringValue ?? Identifiers.uuid(apiKey, "client", Int(Date().timeIntervalSince1970 * 1e6))
        guard let clientID = ticket.clientOrderID, !clientID.isEmpty, clientID.count <= Self.maxClientOrderIDLength else {
            return AlpacaFormat.invalid("client_order_id must be no more than \(Self.maxClientOrderIDLength) characters")
        }
        do {
            let replacement = try context.exchange.replace(.alpaca, apiKey: apiKey, orderID: orderID, with: ticket, clientIDRule: .uniqueForever)
            return .json(200, AlpacaFormat.order(replacement))
        } catch {
            switch error {
            case .cancel(.notFound): return orderNotFound(orderID)
            case .cancel(.notWorking(let status)):
                let shown = status == .cancelled ? "canceled" : status.rawValue
                return AlpacaFormat.error(422, code: 42_210_000, "order is not replaceable: it is in \"\(shown)\" state")
            case .placement(let rejection): return refusal(rejection, limitPrice: ticket.limitPrice)
            }
        }
    }

    private func cancel(orderID: String, apiKey: String) -> HTTPServerResponse {
        do {
            _ = try context.exchange.cancel(.alpaca, apiKey: apiKey, orderID: orderID)
            return .empty(204)
        } catch {
            guard case .notWorking(let status) = error else { return orderNotFound(orderID) }
            let shown = status == .cancelled ? "canceled" : status.rawValue
            return AlpacaFormat.error(422, code: 42_210_000, "order is already in \"\(shown)\" state")
        }
    }

    private func listOrders(_ query: FormFields, apiKey: String) -> HTTPServerResponse {
        let status = query.nonEmpty("status") ?? "open"
        guard ["open", "closed", "all"].contains(status) else { return AlpacaFormat.invalid("invalid status") }
        let limit = query.nonEmpty("limit").flatMap(Int.init) ?? 50
        guard (1...500).contains(limit) else { return AlpacaFormat.invalid("limit must be between 1 and 500") }
        let after = query.nonEmpty("after").flatMap(Timestamps.parseRFC3339)
        let until = query.nonEmpty("until").flatMap(Timestamps.parseRFC3339)
        let symbols = query.nonEmpty("symbols").map { Set($0.split(separator: ",").map(String.init)) }
        var orders = context.exchange.orders(.alpaca, apiKey: apiKey).filter { order in
            (status == "all" || (status == "open") == order.status.isWorking)
                && (after.map { order.createdAt > $0 } ?? true) && (until.map { order.createdAt < $0 } ?? true)
                && (symbols.map { $0.contains(order.symbol) } ?? true)
        }
        if query["direction"] != "asc" { orders.reverse() }
        return .json(200, .array(orders.prefix(limit).map(AlpacaFormat.order)))
    }

    // MARK: Activities, account

    private func fills(_ query: FormFields, apiKey: String) -> HTTPServerResponse {
        let pageSize = query.nonEmpty("page_size").flatMap(Int.init) ?? Self.maxPageSize
        guard (1...Self.maxPageSize).contains(pageSize) else { return AlpacaFormat.invalid("page_size must be between 1 and \(Self.maxPageSize)") }
        let ascending = query["direction"] == "asc"
        guard query["direction"] == nil || ["asc", "desc"].contains(query["direction"]!) else { return AlpacaFormat.invalid("invalid direction") }
        let after = query.nonEmpty("after").flatMap(Timestamps.parseRFC3339)
        let until = query.nonEmpty("until").flatMap(Timestamps.parseRFC3339)
        let statuses = Dictionary(uniqueKeysWithValues: context.exchange.orders(.alpaca, apiKey: apiKey).map { ($0.id, AlpacaFormat.status($0)) })
        var trades = context.exchange.trades(.alpaca, apiKey: apiKey)
            .filter { trade in (after.map { trade.time > $0 } ?? true) && (until.map { trade.time < $0 } ?? true) }
            .sorted { ($0.time, $0.number) < ($1.time, $1.number) }
        if !ascending { trades.reverse() }
        if let token = query.nonEmpty("page_token") {
            guard let index = trades.firstIndex(where: { $0.id == token }) else { return AlpacaFormat.invalid("invalid page_token") }
            trades.removeFirst(index + 1)
        }
        return .json(200, .array(trades.prefix(pageSize).map { AlpacaFormat.fill($0, orderStatus: statuses[$0.orderID] ?? "filled") }))
    }

    /// The account in Alpaca's full shape: a cash account (multiplier 1) starting with $100,000, so
    /// every buying power is the cash and the margin figures are 0.
    private func account(apiKey: String) -> HTTPServerResponse {
        let start = Decimal(100_000)
        let spent = context.exchange.trades(.alpaca, apiKey: apiKey).reduce(Decimal(0)) { $0 + ($1.side == .buy ? 1 : -1) * $1.quantity * $1.price }
        let lines = context.exchange.positions(.alpaca, apiKey: apiKey)
        let long = lines.filter { $0.quantity > 0 }.reduce(Decimal(0)) { $0 + $1.quantity * $1.lastPrice }
        let short = lines.filter { $0.quantity < 0 }.reduce(Decimal(0)) { $0 + $1.quantity * $1.lastPrice }
        let cash = start - spent
        let equity = cash + long + short
        let money = AlpacaFormat.text
        return .json(200, [
            "account_blocked": false, "account_number": .string("PA" + Identifiers.uuid(apiKey, "account", 1).prefix(8).uppercased()),
            "buying_power": money(cash), "cash": money(cash), "created_at": .string(Timestamps.rfc3339(Date(timeIntervalSince1970: 1_700_000_000))),
            "currency": "USD", "crypto_status": "ACTIVE", "non_marginable_buying_power": money(cash), "accrued_fees": "0",
            "pending_transfer_in": "0", "pending_transfer_out": "0", "daytrade_count": "0", "daytrading_buying_power": "0",
            "equity": money(equity), "id": .string(Identifiers.uuid(apiKey, "account", 0)), "initial_margin": "0",
            "last_equity": money(start), "last_maintenance_margin": "0", "long_market_value": money(long), "maintenance_margin": "0",
            "multiplier": "1", "pattern_day_trader": false, "portfolio_value": money(equity), "regt_buying_power": money(cash),
            "short_market_value": money(short), "shorting_enabled": false, "sma": "0", "status": "ACTIVE", "trade_suspended_by_user": false,
            "trading_blocked": false, "transfers_blocked": false,
        ])
    }

    // MARK: Market data

    /// `GET /v2/stocks/trades/latest?symbols=A,B`: `{"trades": {symbol: trade}}` for the symbols the
    /// exchange lists (others are left out, as Alpaca leaves out symbols it has no trade for).
    private func latestTrades(_ query: FormFields) -> HTTPServerResponse {
        guard let symbols = query.nonEmpty("symbols") else { return AlpacaFormat.error(400, code: 40_010_000, "missing symbols") }
        let time = context.exchange.now()
        var trades: [(key: String, value: JSONValue)] = []
        for symbol in symbols.split(separator: ",").map(String.init) {
            guard let price = context.exchange.price(.alpaca, symbol) else { continue }
            trades.append((symbol, AlpacaFormat.latestTrade(price: price, at: time, id: Int64((time.timeIntervalSince1970 * 1000).rounded(.down)))))
        }
        return .json(200, ["trades": .object(trades)])
    }

    /// `GET /v2/stocks/snapshots?symbols=A,B`: `{symbol: snapshot}` with `latestTrade`, `dailyBar`
    /// (today so far) and `prevDailyBar` (closing at the previous close), for the listed symbols.
    private func snapshots(_ query: FormFields) -> HTTPServerResponse {
        guard let symbols = query.nonEmpty("symbols") else { return AlpacaFormat.error(400, code: 40_010_000, "missing symbols") }
        let time = context.exchange.now()
        var answer: [(key: String, value: JSONValue)] = []
        for symbol in symbols.split(separator: ",").map(String.init) {
            guard let price = context.exchange.price(.alpaca, symbol), let bar = context.exchange.sessionBar(.alpaca, symbol) else { continue }
            func daily(_ open: Decimal, _ high: Decimal, _ low: Decimal, _ close: Decimal) -> JSONValue {
                ["t": .string(Timestamps.rfc3339(time)), "o": .number(DecimalText.plain(open)), "h": .number(DecimalText.plain(high)),
                 "l": .number(DecimalText.plain(low)), "c": .number(DecimalText.plain(close)), "v": 0]
            }
            answer.append((symbol, [
                "latestTrade": AlpacaFormat.latestTrade(price: price, at: time, id: Int64((time.timeIntervalSince1970 * 1000).rounded(.down))),
                "dailyBar": daily(bar.open, bar.high, bar.low, bar.close),
                "prevDailyBar": daily(bar.open, bar.open, bar.open, bar.open),
            ]))
        }
        return .json(200, .object(answer))
    }

}
