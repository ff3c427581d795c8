import Foundation
import TMCore

/// Upstox API v2: `Authorization: Bearer TOKEN`, JSON bodies, `{"status":"success","data":...}`.
/// Upstox's order host (`api-hft.upstox.com`) and its main host share this one prefix.
///
/// Rules kept from the real API: no dedup of `tag` (look-up by tag lists every order carrying it);
/// orders 10/s and 500/min, other endpoints 50/s, beyond which 429 UDAPI10005; an invalid or expired
/// token is 401 UDAPI100050.
public struct UpstoxFrontEnd: BrokerFrontEnd {
    public let broker = Broker.upstox
    let context: FrontEndContext

    public init(context: FrontEndContext) { self.context = context }

    public func errorResponse(status: Int, message: String) -> HTTPServerResponse {
        UpstoxErrors.response(status, UpstoxErrors.code(for: status), message)
    }

    public func rateLimitedResponse(retryAfterSeconds: Int) -> HTTPServerResponse {
        UpstoxErrors.response(429, UpstoxErrors.tooManyRequests, "Too Many Request Sent", headers: [("Retry-After", String(retryAfterSeconds))])
    }

    public func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        let credentials: SimCredentials
        switch authenticate(request) {
        case .refused(let refusal): return refusal
        case .accepted(let found): credentials = found
        }
        let path = request.path
        let isOrderWrite = ["/v2/order/place", "/v2/order/cancel", "/v2/order/modify"].contains(path)
        let limits = context.limits
        let key = credentials.apiKey
        // A closure: the keys are formatted only when rate limits are on.
        let windows: () -> [(key: String, limit: Int, windowMilliseconds: Int)] = {
            isOrderWrite
                ? [("upstox:orders:s:\(key)", limits.upstoxOrdersPerSecond, 1000), ("upstox:orders:m:\(key)", limits.upstoxOrdersPerMinute, 60_000)]
                : [("upstox:other:s:\(key)", limits.upstoxOthersPerSecond, 1000)]
        }
        if let refused = context.admit(windows()) { return rateLimitedResponse(retryAfterSeconds: refused.retryAfterSeconds) }

        let exchange = context.exchange
        let query = request.queryFields
        switch (request.method, path) {
        case ("POST", "/v2/order/place"):
            return place(request, apiKey: key)
        case ("DELETE", "/v2/order/cancel"):
            return cancel(orderID: query["order_id"], apiKey: key)
        case ("GET", "/v2/order/retrieve-all"):
            return UpstoxFormat.success(.array(exchange.orders(.upstox, apiKey: key).map { UpstoxFormat.order($0) }))
        case ("GET", "/v2/order/details"):
            guard let id = query.nonEmpty("order_id"), let order = exchange.order(.upstox, apiKey: key, id: id) else { return orderNotFound() }
            return UpstoxFormat.success(UpstoxFormat.order(order))
        case ("GET", "/v2/order/history"):
            if let id = query.nonEmpty("order_id") {
                guard let order = exchange.order(.upstox, apiKey: key, id: id) else { return orderNotFound() }
                return UpstoxFormat.success(.array(UpstoxFormat.history(order)))
            }
            guard let tag = query.nonEmpty("tag") else { return UpstoxErrors.invalid("order_id", "Either order_id or tag is required") }
            let tagged = exchange.orders(.upstox, apiKey: key).filter { $0.clientOrderID == tag }
            guard !tagged.isEmpty else { return orderNotFound() }
            return UpstoxFormat.success(.array(tagged.flatMap { UpstoxFormat.history($0) }))
        case ("GET", "/v2/order/trades/get-trades-for-day"):
            let since = Timestamps.startOfIndianDay(exchange.now())
            return tradesResponse(apiKey: key) { $0.time >= since }
        case ("GET", "/v2/order/trades"):
            guard let id = query.nonEmpty("order_id"), exchange.order(.upstox, apiKey: key, id: id) != nil else { return orderNotFound() }
            return tradesResponse(apiKey: key) { $0.orderID == id }
        case ("GET", "/v2/portfolio/short-term-positions"):
            return UpstoxFormat.success(.array(exchange.positions(.upstox, apiKey: key).map(UpstoxFormat.position)))
        case ("PUT", "/v2/order/modify"):
            return modify(request, apiKey: key)
        case ("GET", "/v2/user/get-funds-and-margin"):
            return UpstoxFormat.success(UpstoxFormat.funds(orders: exchange.orders(.upstox, apiKey: key),
                                                           trades: exchange.trades(.upstox, apiKey: key)))
        case ("GET", "/v2/market-quote/ltp"):
            return lastPrices(query["instrument_key"], withOHLC: false)
        case ("GET", "/v3/market-quote/ohlc"):
            guard query.nonEmpty("interval") != nil else { return UpstoxErrors.response(400, "UDAPI1009", "interval is required", field: "interval") }
            return lastPrices(query["instrument_key"], withOHLC: true)
        default:
            return UpstoxErrors.response(404, "UDAPI100060", "Resource not Found.")
        }
    }

    private func authenticate(_ request: HTTPServerRequest) -> Authentication {
        let refusal = UpstoxErrors.response(401, UpstoxErrors.invalidToken, "Invalid token used to access API")
        guard let header = request.header("Authorization"), header.hasPrefix("Bearer ") else { return .refused(refusal) }
        guard let credentials = context.exchange.credentials(.upstox, accessToken: String(header.dropFirst(7))), credentials.tokenValid else {
            return .refused(refusal)
        }
        return .accepted(credentials)
    }

    private func tradesResponse(apiKey: String, where include: (SimTrade) -> Bool) -> HTTPServerResponse {
        let orders = Dictionary(uniqueKeysWithValues: context.exchange.orders(.upstox, apiKey: apiKey).map { ($0.id, $0) })
        let trades = context.exchange.trades(.upstox, apiKey: apiKey).filter(include)
        return UpstoxFormat.success(.array(trades.map { UpstoxFormat.trade($0, order: orders[$0.orderID]) }))
    }

    private func place(_ request: HTTPServerRequest, apiKey: String) -> HTTPServerResponse {
        guard let body = try? JSONValue.parse(request.body), body.objectFields != nil else {
            return UpstoxErrors.invalid("body", "Invalid request body: expected a JSON object")
        }
        guard let token = body["instrument_token"]?.stringValue, !token.isEmpty else {
            return UpstoxErrors.invalid("instrument_token", "instrument_token is required")
        }
        guard let quantity = body["quantity"]?.intValue else { return UpstoxErrors.invalid("quantity", "quantity must be a whole number") }
        guard let product = body["product"]?.stringValue, ["I", "D", "CO", "MTF"].contains(product) else {
            return UpstoxErrors.invalid("product", "product must be one of I, D, CO, MTF")
        }
        guard let validity = body["validity"]?.stringValue, ["DAY", "IOC"].contains(validity) else {
            return UpstoxErrors.invalid("validity", "validity must be DAY or IOC")
        }
        guard let sideText = body["transaction_type"]?.stringValue, let side = ["BUY": Side.buy, "SELL": .sell][sideText] else {
            return UpstoxErrors.invalid("transaction_type", "transaction_type must be BUY or SELL")
        }
        let type: SimOrderType
        switch body["order_type"]?.stringValue {
        case "MARKET": type = .market
        case "LIMIT": type = .limit
        case "SL", "SL-M": return UpstoxErrors.invalid("order_type", "Stoploss orders are not supported by the simulator")
        default: return UpstoxErrors.invalid("order_type", "order_type must be MARKET, LIMIT, SL or SL-M")
        }
        var limitPrice: Decimal?
        if type == .limit {
            guard let price = body["price"]?.decimalValue else { return UpstoxErrors.invalid("price", "price is required for a LIMIT order") }
            limitPrice = price
        }
        let tag = body["tag"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let ticket = OrderTicket(symbol: token, side: side, type: type, quantity: Decimal(quantity), limitPrice: limitPrice,
                                 clientOrderID: tag, timeInForce: validity, product: product)
        do {
            let order = try context.exchange.place(.upstox, apiKey: apiKey, ticket, clientIDRule: .none)
            return UpstoxFormat.success(["order_id": .string(order.id)])
        } catch {
            return UpstoxErrors.placement(error)
        }
    }

    private func cancel(orderID: String?, apiKey: String) -> HTTPServerResponse {
        guard let orderID, !orderID.isEmpty else { return UpstoxErrors.invalid("order_id", "order_id is required") }
        do {
            let order = try context.exchange.cancel(.upstox, apiKey: apiKey, orderID: orderID)
            return UpstoxFormat.success(["order_id": .string(order.id)])
        } catch {
            guard case .notWorking(let status) = error else { return orderNotFound() }
            return UpstoxErrors.response(400, "UDAPI100040", "Order is already \(status == .filled ? "complete" : status.rawValue); it cannot be cancelled")
        }
    }

    /// `PUT /v2/order/modify`: quantity and price of a working order (the simulator keeps its type).
    private func modify(_ request: HTTPServerRequest, apiKey: String) -> HTTPServerResponse {
        guard let body = try? JSONValue.parse(request.body), body.objectFields != nil else {
            return UpstoxErrors.invalid("body", "Invalid request body: expected a JSON object")
        }
        guard let orderID = body["order_id"]?.stringValue, !orderID.isEmpty else {
            return UpstoxErrors.response(400, "UDAPI1023", "Order id is required", field: "order_id")
        }
        guard let validity = body["validity"]?.stringValue, ["DAY", "IOC"].contains(validity) else {
            return UpstoxErrors.response(400, "UDAPI1007", "Validity is required", field: "validity")
        }
        guard let order = context.exchange.order(.upstox, apiKey: apiKey, id: orderID) else { return orderNotFound() }
        let orderType = order.ticket.type == .market ? "MARKET" : "LIMIT"
        guard body["order_type"]?.stringValue == orderType else {
            return UpstoxErrors.response(400, "UDAPI1056", "The 'order_type' is invalid", field: "order_type")
        }
        let quantity = body["quantity"]?.intValue.map { Decimal($0) } ?? order.quantity
        do {
            let modified = try context.exchange.modify(.upstox, apiKey: apiKey, orderID: orderID, quantity: quantity, type: nil,
                                                       limitPrice: body["price"]?.decimalValue, timeInForce: validity)
            return UpstoxFormat.success(["order_id": .string(modified.id)])
        } catch {
            switch error {
            case .notFound: return orderNotFound()
            case .notWorking: return UpstoxErrors.response(400, "UDAPI1000", "Modify of already cancelled/rejected/completed order is not allowed")
            case .invalid(let rejection): return UpstoxErrors.placement(rejection)
            case .quantityNotAboveFilled(let filled):
                return UpstoxErrors.invalid("quantity", "Quantity must be more than the filled quantity \(DecimalText.plain(filled))")
            }
        }
    }

    /// Upstox quotes at most 500 instrument keys a request.
    static let quoteLimit = 500

    /// `GET /v2/market-quote/ltp?instrument_key=K1,K2`: the price process's price of each known key,
    /// under `SEGMENT:TRADINGSYMBOL`; keys the simulator does not list are left out.
    /// `GET /v3/market-quote/ohlc` adds `prev_ohlc` (the previous session, closing at the previous
    /// close) and `live_ohlc` (today's so far).
    private func lastPrices(_ parameter: String?, withOHLC: Bool) -> HTTPServerResponse {
        let keys = (parameter ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !keys.isEmpty else { return UpstoxErrors.response(400, "UDAPI1009", "instrument_key is required", field: "instrument_key") }
        guard keys.count <= Self.quoteLimit else {
            return UpstoxErrors.response(400, "UDAPI100043", "Maximum instrument key limit exceeded", field: "instrument_key")
        }
        guard keys.allSatisfy({ $0.contains("|") }) else {
            return UpstoxErrors.response(400, "UDAPI1011", "instrument_key is of invalid format", field: "instrument_key")
        }
        var quotes: [(String, JSONValue)] = []
        for key in keys {
            guard let instrument = context.exchange.catalog.instrument(.upstox, key), let price = context.exchange.price(.upstox, key) else { continue }
            var quote: [(key: String, value: JSONValue)] = [("last_price", .decimal(price)), ("instrument_token", .string(instrument.instrumentToken))]
            if withOHLC, let bar = context.exchange.sessionBar(.upstox, key) {
                quote.append(("prev_ohlc", ["open": .decimal(bar.open), "high": .decimal(bar.open), "low": .decimal(bar.open),
                                            "close": .decimal(bar.open), "volume": 0]))
                quote.append(("live_ohlc", ["open": .decimal(bar.open), "high": .decimal(bar.high), "low": .decimal(bar.low),
                                            "close": .decimal(bar.close), "volume": 0]))
            }
            quotes.append((UpstoxFormat.quoteKey(instrument), .object(quote)))
        }
        return UpstoxFormat.success(.object(quotes))
    }

    private func orderNotFound() -> HTTPServerResponse {
        UpstoxErrors.response(404, "UDAPI100010", "Order not found", field: "order_id")
    }
}
