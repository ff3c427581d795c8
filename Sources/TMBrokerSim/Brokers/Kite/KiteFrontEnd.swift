import Foundation
import TMCore

/// Zerodha Kite Connect v3: `Authorization: token API_KEY:ACCESS_TOKEN` with `X-Kite-Version: 3`,
/// form-encoded bodies, `{"status":"success","data":...}` envelopes.
///
/// Rules kept from the real API: no dedup of `tag` (a second order with the same tag is a second
/// order); a `tag` longer than 20 characters rejects the order (InputException); orders 10/s and
/// 400/min per API key, quotes 1/s, other endpoints 10/s, beyond which 429 NetworkException.
public struct KiteFrontEnd: BrokerFrontEnd {
    public let broker = Broker.kite
    let context: FrontEndContext
    static let maxTagLength = 20
    /// Kite's limit for `GET /quote/ltp`.
    static let maxQuoteInstruments = 1000

    public init(context: FrontEndContext) { self.context = context }

    public func errorResponse(status: Int, message: String) -> HTTPServerResponse {
        KiteErrors.response(status, KiteErrors.type(for: status), message)
    }

    public func rateLimitedResponse(retryAfterSeconds: Int) -> HTTPServerResponse {
        KiteErrors.response(429, "NetworkException", "Too many requests", headers: [("Retry-After", String(retryAfterSeconds))])
    }

    public func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        let credentials: SimCredentials
        switch authenticate(request) {
        case .refused(let refusal): return refusal
        case .accepted(let found): credentials = found
        }
        let segments = pathSegments(request.path)
        let isOrderWrite = segments.first == "orders" && Self.isWriteMethod(request.method)
        let isQuote = segments.first == "quote"
        let limits = context.limits
        // A closure: the keys are formatted only when rate limits are on.
        let windows: () -> [(key: String, limit: Int, windowMilliseconds: Int)] = {
            isOrderWrite
                ? [("kite:orders:s:\(credentials.apiKey)", limits.kiteOrdersPerSecond, 1000), ("kite:orders:m:\(credentials.apiKey)", limits.kiteOrdersPerMinute, 60_000)]
                : isQuote ? [("kite:quote:\(credentials.apiKey)", 1, limits.kiteQuoteWindowMilliseconds)]
                : [("kite:other:s:\(credentials.apiKey)", limits.kiteOthersPerSecond, 1000)]
        }
        if let refused = context.admit(windows()) { return rateLimitedResponse(retryAfterSeconds: refused.retryAfterSeconds) }

        let apiKey = credentials.apiKey
        switch (request.method, segments) {
        case ("POST", let s) where s.count == 2 && s[0] == "orders":
            return place(request, variety: s[1], apiKey: apiKey)
        case ("DELETE", let s) where s.count == 3 && s[0] == "orders":
            return cancel(orderID: s[2], apiKey: apiKey)
        case ("PUT", let s) where s.count == 3 && s[0] == "orders":
            return modify(request, orderID: s[2], apiKey: apiKey)
        case ("GET", ["orders"]):
            return KiteFormat.success(.array(context.exchange.orders(.kite, apiKey: apiKey).map { KiteFormat.order($0, apiKey: apiKey) }))
        case ("GET", let s) where s.count == 2 && s[0] == "orders":
            guard let order = context.exchange.order(.kite, apiKey: apiKey, id: s[1]) else { return orderNotFound() }
            return KiteFormat.success(KiteFormat.history(order, apiKey: apiKey))
        case ("GET", let s) where s.count == 3 && s[0] == "orders" && s[2] == "trades":
            guard let order = context.exchange.order(.kite, apiKey: apiKey, id: s[1]) else { return orderNotFound() }
            let trades = context.exchange.trades(.kite, apiKey: apiKey).filter { $0.orderID == order.id }
            return KiteFormat.success(.array(trades.map { KiteFormat.trade($0, order: order) }))
        case ("GET", ["trades"]):
            let orders = Dictionary(uniqueKeysWithValues: context.exchange.orders(.kite, apiKey: apiKey).map { ($0.id, $0) })
            return KiteFormat.success(.array(context.exchange.trades(.kite, apiKey: apiKey).map { KiteFormat.trade($0, order: orders[$0.orderID]) }))
        case ("GET", ["portfolio", "positions"]):
            return positions(apiKey: apiKey)
        case ("GET", ["portfolio", "holdings"]):
            return KiteFormat.success([])
        case ("GET", ["user", "margins"]):
            return KiteFormat.success(KiteFormat.margins(context.exchange, apiKey: apiKey))
        case ("GET", ["quote", "ltp"]):
            return lastPrices(request.queryFields, withOHLC: false)
        case ("GET", ["quote", "ohlc"]):
            return lastPrices(request.queryFields, withOHLC: true)
        case ("GET", ["user", "profile"]):
            return KiteFormat.success(["user_id": .string(String(apiKey.uppercased().prefix(6))), "user_type": "individual", "broker": "ZERODHA"])
        default:
            return KiteErrors.response(404, "GeneralException", "Route not found")
        }
    }

    // The words Kite accepts, as switches (no collection built per request).

    private static func isWriteMethod(_ method: String) -> Bool {
        switch method {
        case "POST", "PUT", "DELETE": return true
        default: return false
        }
    }

    private static func side(_ word: String) -> Side? {
        switch word {
        case "BUY": return .buy
        case "SELL": return .sell
        default: return nil
        }
    }

    private static func isProduct(_ word: String) -> Bool {
        switch word {
        case "CNC", "MIS", "NRML", "MTF": return true
        default: return false
        }
    }

    private static func isValidity(_ word: String) -> Bool {
        switch word {
        case "DAY", "IOC", "TTL": return true
        default: return false
        }
    }

    // MARK: Authentication

    private func authenticate(_ request: HTTPServerRequest) -> Authentication {
        guard request.header("X-Kite-Version") == "3" else {
            return .refused(KiteErrors.input("Invalid or missing `X-Kite-Version` header; expected 3."))
        }
        guard let header = request.header("Authorization"), header.hasPrefix("token "),
              let colon = header.dropFirst(6).firstIndex(of: ":") else {
            return .refused(KiteErrors.response(403, "TokenException", "Incorrect `api_key` or `access_token`."))
        }
        let apiKey = String(header.dropFirst(6)[..<colon])
        let token = String(header.dropFirst(6)[header.index(after: colon)...])
        guard let credentials = context.exchange.credentials(.kite, apiKey: apiKey), credentials.accessToken == token else {
            return .refused(KiteErrors.response(403, "TokenException", "Incorrect `api_key` or `access_token`."))
        }
        guard credentials.tokenValid else {
            return .refused(KiteErrors.response(403, "TokenException", "Token is invalid or has expired."))
        }
        return .accepted(credentials)
    }

    // MARK: Orders

    private func place(_ request: HTTPServerRequest, variety: String, apiKey: String) -> HTTPServerResponse {
        guard variety == "regular" || variety == "amo" else { return KiteErrors.input("Invalid `variety`: \(variety) is not supported by the simulator.") }
        let form = request.formFields
        guard let symbol = form.nonEmpty("tradingsymbol") else { return KiteErrors.input("Missing `tradingsymbol`.") }
        guard let exchangeName = form.nonEmpty("exchange") else { return KiteErrors.input("Missing `exchange`.") }
        guard let sideText = form.nonEmpty("transaction_type"), let side = Self.side(sideText) else {
            return KiteErrors.input("Invalid `transaction_type`: expected BUY or SELL.")
        }
        guard let quantityText = form.nonEmpty("quantity"), let quantity = Int(quantityText) else {
            return KiteErrors.input("Invalid `quantity`: expected a whole number.")
        }
        guard let product = form.nonEmpty("product"), Self.isProduct(product) else {
            return KiteErrors.input("Invalid `product`: expected CNC, MIS, NRML or MTF.")
        }
        let type: SimOrderType
        switch form["order_type"] {
        case "MARKET": type = .market
        case "LIMIT": type = .limit
        case "SL", "SL-M": return KiteErrors.input("Stoploss orders are not supported by the simulator.")
        default: return KiteErrors.input("Invalid `order_type`: expected MARKET, LIMIT, SL or SL-M.")
        }
        var limitPrice: Decimal?
        if type == .limit {
            guard let text = form.nonEmpty("price"), let price = DecimalText.parseLenient(text) else { return KiteErrors.input("Missing or invalid `price`.") }
            limitPrice = price
        }
        let validity = form.nonEmpty("validity") ?? "DAY"
        guard Self.isValidity(validity) else { return KiteErrors.input("Invalid `validity`: expected DAY, IOC or TTL.") }
        let tag = form.nonEmpty("tag")
        if let tag, tag.count > Self.maxTagLength {
            return KiteErrors.input("Invalid `tag`: it can be at most \(Self.maxTagLength) characters.")
        }
        if let instrument = context.exchange.catalog.instrument(.kite, symbol), instrument.exchange != exchangeName {
            return KiteErrors.input("Invalid `exchange`: \(symbol) trades on \(instrument.exchange).")
        }
        let ticket = OrderTicket(symbol: symbol, side: side, type: type, quantity: Decimal(quantity), limitPrice: limitPrice,
                                 clientOrderID: tag, timeInForce: validity, product: product, variety: variety)
        do {
            let order = try context.exchange.place(.kite, apiKey: apiKey, ticket, clientIDRule: .none)
            return KiteFormat.orderIDAnswer(order.id)
        } catch {
            return KiteErrors.placement(error)
        }
    }

    /// `PUT /orders/{variety}/{order_id}`: Kite's documented fields (quantity, price, order_type,
    /// trigger_price, validity, disclosed_quantity); what is not sent is kept.
    private func modify(_ request: HTTPServerRequest, orderID: String, apiKey: String) -> HTTPServerResponse {
        let form = request.formFields
        var quantity: Decimal?
        if let text = form.nonEmpty("quantity") {
            guard let whole = Int(text) else { return KiteErrors.input("Invalid `quantity`: expected a whole number.") }
            quantity = Decimal(whole)
        }
        var type: SimOrderType?
        switch form.nonEmpty("order_type") {
        case nil: type = nil
        case "MARKET": type = .market
        case "LIMIT": type = .limit
        case "SL", "SL-M": return KiteErrors.input("Stoploss orders are not supported by the simulator.")
        default: return KiteErrors.input("Invalid `order_type`: expected MARKET, LIMIT, SL or SL-M.")
        }
        var price: Decimal?
        if let text = form.nonEmpty("price") {
            guard let parsed = DecimalText.parseLenient(text) else { return KiteErrors.input("Invalid `price`.") }
            price = parsed
        }
        let validity = form.nonEmpty("validity")
        if let validity, !Self.isValidity(validity) { return KiteErrors.input("Invalid `validity`: expected DAY, IOC or TTL.") }
        do {
            let order = try context.exchange.modify(.kite, apiKey: apiKey, orderID: orderID, quantity: quantity, type: type,
                                                    limitPrice: price, timeInForce: validity)
            return KiteFormat.orderIDAnswer(order.id)
        } catch {
            switch error {
            case .notFound: return orderNotFound()
            case .notWorking(let status):
                return KiteErrors.response(400, "OrderException", "Order cannot be modified as it is \(KiteFormat.statusWord(status)).")
            case .quantityNotAboveFilled(let filled):
                return KiteErrors.input("Quantity should be greater than the filled quantity \(DecimalText.plain(filled)).")
            case .invalid(let rejection): return KiteErrors.placement(rejection)
            }
        }
    }

    /// `GET /quote/ltp?i=EXCHANGE:TRADINGSYMBOL...`: the instruments the simulator lists, keyed as
    /// asked; unknown ones are left out, as Kite does. `GET /quote/ohlc` adds `ohlc`, whose `close`
    /// is the previous session's close, as Kite reports it while the market trades.
    private func lastPrices(_ query: FormFields, withOHLC: Bool) -> HTTPServerResponse {
        let asked = query.pairs.filter { $0.name == "i" }.map(\.value)
        guard !asked.isEmpty else { return KiteErrors.input("No instruments given.") }
        guard asked.count <= Self.maxQuoteInstruments else {
            return KiteErrors.input("Too many instruments: at most \(Self.maxQuoteInstruments) in one call.")
        }
        var data: [(key: String, value: JSONValue)] = []
        for key in asked where !data.contains(where: { $0.key == key }) {
            let parts = key.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let instrument = context.exchange.catalog.instrument(.kite, parts[1]), instrument.exchange == parts[0],
                  let price = context.exchange.price(.kite, parts[1]) else { continue }
            var quote: [(key: String, value: JSONValue)] = [("instrument_token", .number(instrument.instrumentToken)), ("last_price", .decimal(price))]
            if withOHLC, let bar = context.exchange.sessionBar(.kite, parts[1]) {
                quote.append(("ohlc", ["open": .decimal(bar.open), "high": .decimal(bar.high), "low": .decimal(bar.low),
                                       "close": .decimal(bar.open)]))
            }
            data.append((key, .object(quote)))
        }
        return KiteFormat.success(.object(data))
    }

    private func cancel(orderID: String, apiKey: String) -> HTTPServerResponse {
        do {
            let order = try context.exchange.cancel(.kite, apiKey: apiKey, orderID: orderID)
            return KiteFormat.orderIDAnswer(order.id)
        } catch {
            guard case .notWorking(let status) = error else { return orderNotFound() }
            return KiteErrors.response(400, "OrderException", "Order cannot be cancelled as it is \(KiteFormat.statusWord(status)).")
        }
    }

    private func orderNotFound() -> HTTPServerResponse {
        KiteErrors.response(400, "GeneralException", "Couldn't find that `order_id`.")
    }

    private func positions(apiKey: String) -> HTTPServerResponse {
        let exchange = context.exchange
        let net = exchange.positions(.kite, apiKey: apiKey)
        let day = exchange.positions(.kite, apiKey: apiKey, since: Timestamps.startOfIndianDay(exchange.now()))
        let dayBySymbol = Dictionary(uniqueKeysWithValues: day.map { ($0.instrument.symbol, $0) })
        return KiteFormat.success([
            "net": .array(net.map { KiteFormat.position($0, day: dayBySymbol[$0.instrument.symbol]) }),
            "day": .array(day.map { KiteFormat.position($0, day: $0) }),
        ])
    }
}
