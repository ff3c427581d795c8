import Foundation
import TMCore

/// Binance Spot: `X-MBX-APIKEY`, HMAC-SHA256 `signature` over query ‖ body, `timestamp` within
/// `recvWindow` (default 5000 ms, at most 60000), parameters in the query string or a form body.
///
/// Rules kept from the real API: a `newClientOrderId` (`^[a-zA-Z0-9-_]{1,36}$`) is refused with
/// -2010 only while an order carrying it is still working — after it filled, a resend is a second
/// order; request weight per minute and orders per 10 s, reported in `X-MBX-USED-WEIGHT-1M` and
/// `X-MBX-ORDER-COUNT-10S`, beyond which 429 with `Retry-After` (a cancel-replace counts as an
/// order); `allOrders` with a time filters by the last update and refuses a window over 24 hours;
/// `cancelReplace` checks the new order, cancels, then places, answering `-2021`/`-2022` with each
/// half's result when one fails; `ticker/price` is public (no key, no signature) and refuses a
/// batch naming a symbol it does not list (`-1121`), as Binance documents.
public struct BinanceFrontEnd: BrokerFrontEnd {
    public let broker = Broker.binance
    let context: FrontEndContext
    static let defaultRecvWindow = 5000
    static let maxRecvWindow = 60_000

    public init(context: FrontEndContext) { self.context = context }

    public func errorResponse(status: Int, message: String) -> HTTPServerResponse {
        switch status {
        case 429: return rateLimitedResponse(retryAfterSeconds: 1)
        case 400: return BinanceFormat.error(400, -1100, message)
        case 401, 403: return BinanceFormat.error(status, -2015, "Invalid API-key, IP, or permissions for action.")
        case 503: return BinanceFormat.error(503, -1008, "Service Unavailable. \(message)")
        case 504: return BinanceFormat.error(504, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
        default: return BinanceFormat.error(status, -1001, "Internal error; unable to process your request. Please try again.")
        }
    }

    public func rateLimitedResponse(retryAfterSeconds: Int) -> HTTPServerResponse {
        BinanceFormat.error(429, -1003, "Too much request weight used; current limit is \(context.limits.binanceWeightPerMinute) request weight per 1 MINUTE.",
                            headers: [("Retry-After", String(retryAfterSeconds))])
    }

    /// Request weights of Binance's documented endpoints.
    private static func weight(_ method: String, _ path: String, hasSymbol: Bool) -> Int {
        switch (method, path) {
        case ("GET", "/api/v3/order"): return 4
        case ("GET", "/api/v3/openOrders"): return hasSymbol ? 6 : 80
        case ("GET", "/api/v3/allOrders"), ("GET", "/api/v3/myTrades"), ("GET", "/api/v3/account"): return 20
        default: return 1
        }
    }

    public func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        switch (request.method, request.path) {
        case ("GET", "/api/v3/ping"): return .json(200, [:])
        case ("GET", "/api/v3/time"): return .json(200, ["serverTime": .int(Timestamps.milliseconds(context.exchange.now()))])
        case ("GET", "/api/v3/ticker/price"): return tickerPrice(parameters(request)) { symbol, price in
            ["symbol": .string(symbol), "price": BinanceFormat.text(price)]
        }
        case ("GET", "/api/v3/ticker/24hr"): return tickerPrice(parameters(request)) { symbol, price in
            let close = context.exchange.previousClose(.binance, symbol) ?? price
            return ["symbol": .string(symbol), "prevClosePrice": BinanceFormat.text(close), "lastPrice": BinanceFormat.text(price),
                    "priceChange": BinanceFormat.text(price - close), "openPrice": BinanceFormat.text(close)]
        }
        default: break
        }
        let params = parameters(request)
        let credentials: SimCredentials
        switch authenticate(request, params) {
        case .refused(let refusal): return refusal
        case .accepted(let found): credentials = found
        }
        let key = credentials.apiKey
        var headers: [(name: String, value: String)] = []
        if context.limits.enabled {
            let cost = Self.weight(request.method, request.path, hasSymbol: params["symbol"] != nil)
            let admission = context.limiter.admit("binance:weight:\(key)", limit: context.limits.binanceWeightPerMinute, windowMilliseconds: 60_000, cost: cost)
            guard admission.allowed else { return rateLimitedResponse(retryAfterSeconds: admission.retryAfterSeconds) }
            headers.append(("X-MBX-USED-WEIGHT-1M", String(admission.used)))
            if request.method == "POST" && (request.path == "/api/v3/order" || request.path == "/api/v3/order/cancelReplace") {
                let orders = context.limiter.admit("binance:orders:\(key)", limit: context.limits.binanceOrdersPer10Seconds, windowMilliseconds: 10_000)
                guard orders.allowed else {
                    return BinanceFormat.error(429, -1015, "Too many new orders; current limit is \(context.limits.binanceOrdersPer10Seconds) orders per 10 SECOND.",
                                               headers: [("Retry-After", String(orders.retryAfterSeconds))])
                }
                headers.append(("X-MBX-ORDER-COUNT-10S", String(orders.used)))
            }
        }
        return route(request, params, apiKey: key).adding(headers: headers)
    }

    private func route(_ request: HTTPServerRequest, _ params: FormFields, apiKey: String) -> HTTPServerResponse {
        let exchange = context.exchange
        switch (request.method, request.path) {
        case ("POST", "/api/v3/order"):
            return place(params, apiKey: apiKey)
        case ("GET", "/api/v3/order"):
            switch findOrder(params, apiKey: apiKey) {
            case .refused(let refusal): return refusal
            case .found(let order): return .json(200, BinanceFormat.order(order))
            }
        case ("DELETE", "/api/v3/order"):
            return cancel(params, apiKey: apiKey)
        case ("GET", "/api/v3/openOrders"):
            let symbol = params.nonEmpty("symbol")
            let open = exchange.orders(.binance, apiKey: apiKey).filter { $0.status.isWorking && (symbol == nil || $0.symbol == symbol) }
            return .json(200, .array(open.map(BinanceFormat.order)))
        case ("POST", "/api/v3/order/cancelReplace"):
            return cancelReplace(params, apiKey: apiKey)
        case ("GET", "/api/v3/allOrders"):
            return allOrders(params, apiKey: apiKey)
        case ("GET", "/api/v3/myTrades"):
            return myTrades(params, apiKey: apiKey)
        case ("GET", "/api/v3/account"):
            return .json(200, BinanceAccountView.account(exchange: exchange, apiKey: apiKey))
        default:
            return BinanceFormat.error(404, -1100, "Unknown endpoint \(request.method) \(request.path).")
        }
    }

    // MARK: Parameters and authentication

    /// Query and form-body parameters together; the query wins when both name one.
    private func parameters(_ request: HTTPServerRequest) -> FormFields {
        let contentType = request.header("Content-Type") ?? ""
        let body = request.body.isEmpty || contentType.contains("json") ? [] : request.formFields.pairs
        return FormFields(pairs: request.queryFields.pairs + body)
    }

    private func authenticate(_ request: HTTPServerRequest, _ params: FormFields) -> Authentication {
        guard let apiKey = request.header("X-MBX-APIKEY"), !apiKey.isEmpty else {
            return .refused(BinanceFormat.error(401, -2014, "API-key format invalid."))
        }
        guard let credentials = context.exchange.credentials(.binance, apiKey: apiKey), credentials.tokenValid else {
            return .refused(BinanceFormat.error(401, -2015, "Invalid API-key, IP, or permissions for action."))
        }
        guard let timestampText = params.nonEmpty("timestamp"), let timestamp = Int(timestampText) else {
            return .refused(BinanceFormat.missing("timestamp"))
        }
        let recvWindow = params.nonEmpty("recvWindow").flatMap(Int.init) ?? Self.defaultRecvWindow
        guard recvWindow > 0, recvWindow <= Self.maxRecvWindow else {
            return .refused(BinanceFormat.error(400, -1131, "recvWindow must be less than \(Self.maxRecvWindow)."))
        }
        let serverTime = Timestamps.milliseconds(context.exchange.now())
        if timestamp >= serverTime + 1000 {
            return .refused(BinanceFormat.error(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."))
        }
        if serverTime - timestamp > recvWindow {
            return .refused(BinanceFormat.error(400, -1021, "Timestamp for this request is outside of the recvWindow."))
        }
        let contentType = request.header("Content-Type") ?? ""
        let signed = BinanceSignature.signedPayload(query: request.query, body: contentType.contains("json") ? "" : request.bodyText)
        guard let signature = signed.signature, !signature.isEmpty else { return .refused(BinanceFormat.missing("signature")) }
        guard BinanceSignature.isValid(payload: signed.payload, signature: signature, secret: credentials.apiSecret) else {
            return .refused(BinanceFormat.error(400, -1022, "Signature for this request is not valid."))
        }
        return .accepted(credentials)
    }

    // MARK: Orders

    private static func isValidClientOrderID(_ id: String) -> Bool {
        (1...36).contains(id.utf8.count) && id.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    /// A new order's parameters (`POST /api/v3/order`, the new half of `cancelReplace`), checked.
    private enum NewOrder {
        case ticket(OrderTicket, responseType: String)
        case refused(HTTPServerResponse)
    }

    private func newOrder(_ params: FormFields, apiKey: String) -> NewOrder {
        func refuse(_ response: HTTPServerResponse) -> NewOrder { .refused(response) }
        guard let symbol = params.nonEmpty("symbol") else { return refuse(BinanceFormat.missing("symbol")) }
        guard let sideText = params.nonEmpty("side") else { return refuse(BinanceFormat.missing("side")) }
        guard let side = ["BUY": Side.buy, "SELL": .sell][sideText] else { return refuse(BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'.")) }
        guard let typeText = params.nonEmpty("type") else { return refuse(BinanceFormat.missing("type")) }
        let type: SimOrderType
        switch typeText {
        case "MARKET": type = .market
        case "LIMIT": type = .limit
        default: return refuse(BinanceFormat.error(400, -1116, "Invalid orderType."))
        }
        guard context.exchange.catalog.instrument(.binance, symbol) != nil else { return refuse(BinanceFormat.error(400, -1121, "Invalid symbol.")) }
        if params["quoteOrderQty"] != nil { return refuse(BinanceFormat.error(400, -1106, "Parameter 'quoteOrderQty' sent when not required by the simulator.")) }
        guard let quantityText = params.nonEmpty("quantity") else { return refuse(BinanceFormat.missing("quantity")) }
        guard let quantity = DecimalText.parseLenient(quantityText) else { return refuse(BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'quantity'.")) }
        var timeInForce = "GTC"
        var limitPrice: Decimal?
        if type == .limit {
            guard let tif = params.nonEmpty("timeInForce") else { return refuse(BinanceFormat.missing("timeInForce")) }
            guard ["GTC", "IOC", "FOK"].contains(tif) else { return refuse(BinanceFormat.error(400, -1115, "Invalid timeInForce.")) }
            timeInForce = tif
            guard let priceText = params.nonEmpty("price") else { return refuse(BinanceFormat.missing("price")) }
            guard let price = DecimalText.parseLenient(priceText) else { return refuse(BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'price'.")) }
            limitPrice = price
        }
        let clientID = params.nonEmpty("newClientOrderId") ?? "sim\(Identifiers.uuid(apiKey, "cid", Int(Date().timeIntervalSince1970 * 1e6)).replacingOccurrences(of: "-", with: "").prefix(19))"
        guard Self.isValidClientOrderID(clientID) else {
            return refuse(BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'."))
        }
        let responseType = params.nonEmpty("newOrderRespType") ?? "FULL"
        guard ["ACK", "RESULT", "FULL"].contains(responseType) else { return refuse(BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")) }
        return .ticket(OrderTicket(symbol: symbol, side: side, type: type, quantity: quantity, limitPrice: limitPrice, clientOrderID: clientID,
                                   timeInForce: timeInForce), responseType: responseType)
    }

    /// Places a checked ticket: the answer in `responseType`'s form, or the refusal as Binance's code and message.
    private func submit(_ ticket: OrderTicket, responseType: String, apiKey: String) -> Result<JSONValue, BinanceRefusal> {
        do {
            let order = try context.exchange.place(.binance, apiKey: apiKey, ticket, clientIDRule: .uniqueWhileWorking)
            let trades = context.exchange.trades(.binance, apiKey: apiKey).filter { $0.orderID == order.id }
            return .success(BinanceFormat.placed(order, trades: trades, responseType: responseType))
        } catch {
            switch error {
            case .duplicateClientOrderID: return .failure(BinanceRefusal(code: -2010, message: "Duplicate order sent."))
            case .unknownInstrument: return .failure(BinanceRefusal(code: -1121, message: "Invalid symbol."))
            case .nonPositiveQuantity, .notLotMultiple: return .failure(BinanceRefusal(code: -1013, message: "Filter failure: LOT_SIZE"))
            case .missingLimitPrice:
                return .failure(BinanceRefusal(code: -1102, message: "Mandatory parameter 'price' was not sent, was empty/null, or malformed."))
            case .nonPositivePrice, .notTickMultiple: return .failure(BinanceRefusal(code: -1013, message: "Filter failure: PRICE_FILTER"))
            }
        }
    }

    private func place(_ params: FormFields, apiKey: String) -> HTTPServerResponse {
        switch newOrder(params, apiKey: apiKey) {
        case .refused(let refusal): return refusal
        case .ticket(let ticket, let responseType):
            switch submit(ticket, responseType: responseType, apiKey: apiKey) {
            case .success(let placed): return .json(200, placed)
            case .failure(let refusal): return BinanceFormat.error(400, refusal.code, refusal.message)
            }
        }
    }

    private enum Lookup {
        case found(SimOrder)
        case refused(HTTPServerResponse)
    }

    /// The order named by `orderId` or `origClientOrderId` (the newest carrying it) within `symbol`.
    private func findOrder(_ params: FormFields, apiKey: String, unknown: HTTPServerResponse = BinanceFormat.error(400, -2013, "Order does not exist.")) -> Lookup {
        guard let symbol = params.nonEmpty("symbol") else { return .refused(BinanceFormat.missing("symbol")) }
        let orders = context.exchange.orders(.binance, apiKey: apiKey).filter { $0.symbol == symbol }
        if let idText = params.nonEmpty("orderId") {
            guard let id = Int(idText), let order = orders.first(where: { $0.number == id }) else { return .refused(unknown) }
            return .found(order)
        }
        guard let clientID = params.nonEmpty("origClientOrderId") else { return .refused(BinanceFormat.missing("orderId")) }
        guard let order = orders.last(where: { $0.clientOrderID == clientID }) else { return .refused(unknown) }
        return .found(order)
    }

    private func cancel(_ params: FormFields, apiKey: String) -> HTTPServerResponse {
        let unknown = BinanceFormat.error(400, -2011, "Unknown order sent.")
        switch findOrder(params, apiKey: apiKey, unknown: unknown) {
        case .refused(let refusal): return refusal
        case .found(let order):
            guard let cancelled = try? context.exchange.cancel(.binance, apiKey: apiKey, orderID: order.id) else { return unknown }
            return .json(200, BinanceFormat.cancelled(cancelled, at: context.exchange.now()))
        }
    }

    /// `POST /api/v3/order/cancelReplace`: the new order's parameters are checked first (a refusal
    /// there cancels nothing), then the cancel, then — if it succeeded or the mode is
    /// `ALLOW_FAILURE` — the placement; a partial or total failure answers `-2021`/`-2022` with what
    /// happened to each half in `data`, as Binance documents.
    private func cancelReplace(_ params: FormFields, apiKey: String) -> HTTPServerResponse {
        guard let mode = params.nonEmpty("cancelReplaceMode") else { return BinanceFormat.missing("cancelReplaceMode") }
        guard mode == "STOP_ON_FAILURE" || mode == "ALLOW_FAILURE" else {
            return BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.")
        }
        guard params.nonEmpty("cancelOrderId") != nil || params.nonEmpty("cancelOrigClientOrderId") != nil else {
            return BinanceFormat.error(400, -1102, "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were empty/null!")
        }
        let (ticket, responseType): (OrderTicket, String)
        switch newOrder(params, apiKey: apiKey) {
        case .refused(let refusal): return refusal
        case .ticket(let checked, let type): (ticket, responseType) = (checked, type)
        }
        let unknown = BinanceRefusal(code: -2011, message: "Unknown order sent.")
        var lookup = [("symbol", ticket.symbol)]
        if let id = params.nonEmpty("cancelOrderId") { lookup.append(("orderId", id)) }
        if let id = params.nonEmpty("cancelOrigClientOrderId") { lookup.append(("origClientOrderId", id)) }
        var cancelResponse: Result<JSONValue, BinanceRefusal> = .failure(unknown)
        if case .found(let order) = findOrder(FormFields(pairs: lookup.map { (name: $0.0, value: $0.1) }), apiKey: apiKey),
           let cancelled = try? context.exchange.cancel(.binance, apiKey: apiKey, orderID: order.id) {
            cancelResponse = .success(BinanceFormat.cancelled(cancelled, at: context.exchange.now()))
        }
        var newOrderResponse: Result<JSONValue, BinanceRefusal>?
        if case .success = cancelResponse {
            newOrderResponse = submit(ticket, responseType: responseType, apiKey: apiKey)
        } else if mode == "ALLOW_FAILURE" {
            newOrderResponse = submit(ticket, responseType: responseType, apiKey: apiKey)
        }
        return BinanceFormat.cancelReplace(cancel: cancelResponse, new: newOrderResponse)
    }

    /// `GET /api/v3/allOrders`: with `startTime`/`endTime` the orders whose last update falls in the
    /// window (at most 24 hours; `orderId` is then ignored), else from `orderId`; oldest id first.
    private func allOrders(_ params: FormFields, apiKey: String) -> HTTPServerResponse {
        guard let symbol = params.nonEmpty("symbol") else { return BinanceFormat.missing("symbol") }
        guard context.exchange.catalog.instrument(.binance, symbol) != nil else { return BinanceFormat.error(400, -1121, "Invalid symbol.") }
        let limit = params.nonEmpty("limit").flatMap(Int.init) ?? 500
        guard (1...1000).contains(limit) else { return BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.") }
        let start = params.nonEmpty("startTime").flatMap(Int.init), end = params.nonEmpty("endTime").flatMap(Int.init)
        let day = 24 * 60 * 60 * 1000
        if let start, let end, end - start > day { return BinanceFormat.error(400, -1127, "More than 24 hours between startTime and endTime.") }
        let fromID = start == nil && end == nil ? params.nonEmpty("orderId").flatMap(Int.init) ?? 0 : 0
        let orders = context.exchange.orders(.binance, apiKey: apiKey).filter { order in
            let updated = Timestamps.milliseconds(order.updatedAt)
            return order.symbol == symbol && order.number >= fromID && (start.map { updated >= $0 } ?? true) && (end.map { updated <= $0 } ?? true)
        }.sorted { $0.number < $1.number }
        return .json(200, .array(orders.prefix(limit).map(BinanceFormat.order)))
    }

    /// `GET /api/v3/ticker/price` and `/api/v3/ticker/24hr` (public; `row` makes one symbol's
    /// answer): one `symbol` as an object, a `symbols` JSON array or every listed symbol as an
    /// array; a symbol Binance does not list refuses the whole request (`-1121`).
    private func tickerPrice(_ params: FormFields, row: (String, Decimal) -> JSONValue) -> HTTPServerResponse {
        let exchange = context.exchange
        func price(_ symbol: String) -> JSONValue? {
            exchange.price(.binance, symbol).map { row(symbol, $0) }
        }
        switch (params.nonEmpty("symbol"), params.nonEmpty("symbols")) {
        case (.some, .some):
            return BinanceFormat.error(400, -1128, "Combination of optional parameters invalid.")
        case (let symbol?, nil):
            guard let answer = price(symbol) else { return BinanceFormat.error(400, -1121, "Invalid symbol.") }
            return .json(200, answer)
        case (nil, let list?):
            guard let parsed = try? JSONValue.parse(Array(list.utf8)), case .array(let items) = parsed else {
                return BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'symbols'.")
            }
            var answers: [JSONValue] = []
            for item in items {
                guard case .string(let symbol) = item, let answer = price(symbol) else { return BinanceFormat.error(400, -1121, "Invalid symbol.") }
                answers.append(answer)
            }
            return .json(200, .array(answers))
        case (nil, nil):
            return .json(200, .array(exchange.catalog.instruments(.binance).compactMap { price($0.symbol) }))
        }
    }

    private func myTrades(_ params: FormFields, apiKey: String) -> HTTPServerResponse {
        guard let symbol = params.nonEmpty("symbol") else { return BinanceFormat.missing("symbol") }
        let fromID = params.nonEmpty("fromId").flatMap(Int.init)
        let orderID = params.nonEmpty("orderId").flatMap(Int.init)
        let start = params.nonEmpty("startTime").flatMap(Int.init)
        let end = params.nonEmpty("endTime").flatMap(Int.init)
        let limit = params.nonEmpty("limit").flatMap(Int.init) ?? 500
        guard (1...1000).contains(limit) else { return BinanceFormat.error(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.") }
        let trades = context.exchange.trades(.binance, apiKey: apiKey).filter { trade in
            let time = Timestamps.milliseconds(trade.time)
            return trade.symbol == symbol && (fromID.map { trade.number >= $0 } ?? true) && (orderID.map { trade.orderNumber == $0 } ?? true)
                && (start.map { time >= $0 } ?? true) && (end.map { time <= $0 } ?? true)
        }.sorted { $0.number < $1.number }
        // Without fromId Binance returns the most recent trades; with it, the oldest from that id.
        let page = fromID == nil ? Array(trades.suffix(limit)) : Array(trades.prefix(limit))
        return .json(200, .array(page.map(BinanceFormat.trade)))
    }
}
