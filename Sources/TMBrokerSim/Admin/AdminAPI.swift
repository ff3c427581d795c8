import Foundation
import TMCore

/// The simulator's control surface under `/admin`: accounts, tokens, faults, history, hand fills,
/// trade corrections, prices, liquidity, reset, health, the broker-side truth and the requests
/// each broker endpoint received (`RequestLog`).
///
/// Guarantees: bad input is a 400 (404 for an unknown account, order or trade) with a JSON body
/// naming the field and the reason; every mutation is done through the exchange's or the fault
/// injector's own atomic operations.
struct AdminAPI: Sendable {
    let exchange: Exchange
    let faults: FaultInjector
    let limiter: SlidingWindowLimiter
    let requests: RequestLog

    func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        do {
            return try route(request)
        } catch {
            return error.response
        }
    }

    private func route(_ request: HTTPServerRequest) throws(AdminRejection) -> HTTPServerResponse {
        let segments = Array(pathSegments(request.path).dropFirst())  // drop "admin"
        switch (request.method, segments) {
        case ("GET", ["health"]):
            return .json(200, ["status": "ok", "accounts": .int(exchange.accountCount), "faults": .int(faults.active.count)])
        case ("POST", ["accounts"]):
            return try createAccount(request.body)
        case ("POST", let s) where s.count == 4 && s[0] == "accounts" && ["expire-token", "restore-token"].contains(s[3]):
            let broker = try brokerSegment(s[1])
            guard exchange.setTokenValid(broker, apiKey: s[2], s[3] == "restore-token") else { throw noAccount() }
            return .json(200, ["broker": .string(broker.rawValue), "api_key": .string(s[2]), "token_valid": .bool(s[3] == "restore-token")])
        case ("POST", ["faults"]):
            return .json(200, ["id": .string(faults.add(try faultRule(request.body)))])
        case ("GET", ["faults"]):
            return .json(200, .array(faults.active.map { ["id": .string($0.id), "broker": .string($0.broker?.rawValue ?? "*"), "endpoint": .string("\($0.method.map { "\($0) " } ?? "")\($0.pathPrefix)")] }))
        case ("DELETE", ["faults"]):
            faults.removeAll()
            return .json(200, ["removed": "all"])
        case ("DELETE", let s) where s.count == 2 && s[0] == "faults":
            guard faults.remove(id: s[1]) else { throw AdminRejection(status: 404, field: "id", reason: "no fault \(s[1])") }
            return .json(200, ["removed": .string(s[1])])
        case ("POST", ["seed-trades"]):
            let input = try AdminInput(request.body, allowing: ["broker", "api_key", "count", "symbols"])
            let broker = try input.broker()
            let added = try exchange.seedTrades(broker, apiKey: try input.requiredString("api_key"), count: try input.int("count", in: 0...100_000) ?? 50,
                                                symbols: try input.strings("symbols") ?? [])
            return .json(200, ["added": .int(added)])
        case ("POST", let s) where s.count == 5 && s[0] == "orders" && s[4] == "fill":
            let input = try AdminInput(request.body, allowing: ["quantity", "price"])
            let order = try exchange.adminFill(try brokerSegment(s[1]), apiKey: s[2], orderID: s[3], quantity: try input.decimal("quantity"),
                                               price: try input.decimal("price"))
            return .json(200, ["order_id": .string(order.id), "status": .string(order.status.rawValue),
                               "filled_quantity": .string(DecimalText.plain(order.filledQuantity))])
        case ("POST", let s) where s.count == 4 && s[0] == "trades":
            let input = try AdminInput(request.body, allowing: ["price", "quantity", "fee"])
            let trade = try exchange.correctTrade(try brokerSegment(s[1]), apiKey: s[2], tradeID: s[3], price: try input.decimal("price"),
                                                  quantity: try input.decimal("quantity"), fee: try input.decimal("fee"))
            return .json(200, ["trade_id": .string(trade.id), "price": .string(DecimalText.plain(trade.price)),
                               "quantity": .string(DecimalText.plain(trade.quantity)), "fee": .string(DecimalText.plain(trade.fee))])
        case ("POST", ["prices"]):
            let input = try AdminInput(request.body, allowing: ["broker", "symbol", "price"])
            let broker = try input.broker()
            let symbol = try input.requiredString("symbol")
            guard let price = try input.decimal("price"), price > 0 else { throw AdminRejection(field: "price", reason: "is required and must be > 0") }
            guard exchange.pinPrice(broker, symbol, price) else { throw AdminRejection(field: "symbol", reason: "unknown at \(broker.rawValue)") }
            exchange.matchResting(force: true)
            return .json(200, ["broker": .string(broker.rawValue), "symbol": .string(symbol), "price": .string(DecimalText.plain(price))])
        case ("DELETE", ["prices"]):
            exchange.unpinAllPrices()
            return .json(200, ["unpinned": "all"])
        case ("GET", ["prices"]):
            let query = request.queryFields
            guard let brokerText = query["broker"], let broker = Broker(rawValue: brokerText) else { throw AdminRejection(field: "broker", reason: "is required: kite, upstox, alpaca or binance") }
            guard let symbol = query["symbol"], let price = exchange.price(broker, symbol) else { throw AdminRejection(field: "symbol", reason: "unknown at \(broker.rawValue)") }
            return .json(200, ["broker": .string(broker.rawValue), "symbol": .string(symbol), "price": .string(DecimalText.plain(price))])
        case ("POST", ["liquidity"]):
            let input = try AdminInput(request.body, allowing: ["broker", "symbol", "quantity"])
            let broker = try input.broker()
            let symbol = try input.requiredString("symbol")
            let quantity = try input.decimal("quantity")
            if let quantity, quantity <= 0 { throw AdminRejection(field: "quantity", reason: "must be > 0, or null for unlimited") }
            guard exchange.setLiquidity(broker, symbol, quantity) else { throw AdminRejection(field: "symbol", reason: "unknown at \(broker.rawValue)") }
            return .json(200, ["broker": .string(broker.rawValue), "symbol": .string(symbol), "quantity": quantity.map { .string(DecimalText.plain($0)) } ?? nil])
        case ("POST", ["match"]):
            exchange.matchResting(force: true)
            return .json(200, ["matched": true])
        case ("POST", ["reset"]):
            exchange.reset()
            faults.removeAll()
            limiter.reset()
            requests.reset()
            return .json(200, ["reset": true])
        case ("GET", ["requests"]):
            guard let brokerText = request.queryFields["broker"], let broker = Broker(rawValue: brokerText) else {
                throw AdminRejection(field: "broker", reason: "is required: kite, upstox, alpaca or binance")
            }
            return .json(200, requests.json(broker))
        case ("GET", ["truth"]):
            let query = request.queryFields
            guard let brokerText = query["broker"], let broker = Broker(rawValue: brokerText) else { throw AdminRejection(field: "broker", reason: "is required: kite, upstox, alpaca or binance") }
            guard let apiKey = query.nonEmpty("api_key") else { throw AdminRejection(field: "api_key", reason: "is required") }
            guard exchange.credentials(broker, apiKey: apiKey) != nil else { throw noAccount() }
            return .json(200, TruthView.account(exchange, broker: broker, apiKey: apiKey))
        default:
            throw AdminRejection(status: 404, field: "path", reason: "no admin endpoint \(request.method) \(request.path)")
        }
    }

    private func noAccount() -> AdminRejection { AdminRejection(status: 404, field: "api_key", reason: "no such account") }

    private func brokerSegment(_ text: String) throws(AdminRejection) -> Broker {
        guard let broker = Broker(rawValue: text) else { throw AdminRejection(status: 404, field: "broker", reason: "unknown broker \(text)") }
        return broker
    }

    private func createAccount(_ body: Data) throws(AdminRejection) -> HTTPServerResponse {
        let input = try AdminInput(body, allowing: ["broker", "api_key", "api_secret", "access_token"])
        let broker = try input.broker()
        let token = try input.string("access_token")
        if (broker == .kite || broker == .upstox) && (token ?? "").isEmpty {
            throw AdminRejection(field: "access_token", reason: "is required for \(broker.rawValue)")
        }
        let credentials = SimCredentials(apiKey: try input.requiredString("api_key"), apiSecret: try input.string("api_secret") ?? "",
                                         accessToken: token)
        if (broker == .alpaca || broker == .binance) && credentials.apiSecret.isEmpty {
            throw AdminRejection(field: "api_secret", reason: "is required for \(broker.rawValue)")
        }
        exchange.upsertAccount(broker, credentials)
        return .json(200, ["broker": .string(broker.rawValue), "api_key": .string(credentials.apiKey)])
    }

    private func faultRule(_ body: Data) throws(AdminRejection) -> FaultRule {
        let input = try AdminInput(body, allowing: ["broker", "endpoint", "latency_ms", "error_rate", "status", "burst_429", "hang_ms",
                                                    "drop_response_after_execute", "drop_rate", "count"])
        let brokerText = try input.string("broker") ?? "*"
        var broker: Broker?
        if brokerText != "*" {
            guard let named = Broker(rawValue: brokerText) else { throw AdminRejection(field: "broker", reason: "expected kite, upstox, alpaca, binance or *") }
            broker = named
        }
        var method: String?
        var prefix = ""
        if let endpoint = try input.string("endpoint")?.trimmingCharacters(in: .whitespaces), !endpoint.isEmpty {
            let parts = endpoint.split(separator: " ", maxSplits: 1).map(String.init)
            if parts.count == 2 {
                guard ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(parts[0]) else { throw AdminRejection(field: "endpoint", reason: "unknown method \(parts[0])") }
                method = parts[0]
                prefix = parts[1]
            } else {
                prefix = parts[0]
            }
            guard prefix.hasPrefix("/") else { throw AdminRejection(field: "endpoint", reason: "path must start with /, e.g. \"POST /orders/regular\"") }
        }
        // A fraction of the matching requests executed with their response dropped; alone it implies drop_response_after_execute.
        let dropRate = try input.fraction("drop_rate")
        let rule = FaultRule(id: "", broker: broker, method: method, pathPrefix: prefix,
                             latencyMilliseconds: try input.int("latency_ms", in: 0...600_000) ?? 0,
                             errorRate: try input.fraction("error_rate") ?? 0, status: try input.int("status", in: 400...599) ?? 503,
                             burst429: try input.int("burst_429", in: 0...1_000_000) ?? 0, hangMilliseconds: try input.int("hang_ms", in: 0...600_000) ?? 0,
                             dropResponseAfterExecute: try input.bool("drop_response_after_execute") ?? (dropRate != nil), dropRate: dropRate ?? 1,
                             remaining: try input.int("count", in: 1...1_000_000))
        guard rule.latencyMilliseconds > 0 || rule.errorRate > 0 || rule.burst429 > 0 || rule.hangMilliseconds > 0 || rule.dropResponseAfterExecute else {
            throw AdminRejection(field: "body", reason: "the fault has no effect: set latency_ms, error_rate, burst_429, hang_ms or drop_response_after_execute")
        }
        return rule
    }
}
