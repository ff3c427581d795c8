import Foundation
import TMCore
import TMBrokerSim
import TMCrypto
import TMHTTP
import Testing

/// A simulator running in-process on a free port, one account per broker, and a libcurl client
/// that talks to it over real HTTP in each broker's wire format.
final class SimulatorHarness {
    let simulator: BrokerSimulator
    let client: HTTPClient

    static let kite = (key: "kite_key", secret: "kite_secret", token: "kite_token")
    static let upstox = (key: "upstox_key", secret: "upstox_secret", token: "upstox_token")
    static let alpaca = (key: "ALPACAKEY", secret: "alpaca_secret")
    static let binance = (key: "binance_key", secret: "binance_secret")

    init(rateLimits: Bool = false, clock: (@Sendable () -> Date)? = nil, timeout: Duration = .seconds(10)) throws {
        var configuration = BrokerSimulator.Configuration()
        configuration.rateLimits.enabled = rateLimits
        configuration.tickMilliseconds = 50
        if let clock { configuration.clock = clock }
        simulator = try BrokerSimulator(configuration: configuration)
        client = try HTTPClient(configuration: .init(timeout: timeout, connectTimeout: .seconds(2), proxy: .none))
        let exchange = simulator.exchange
        exchange.upsertAccount(.kite, SimCredentials(apiKey: Self.kite.key, apiSecret: Self.kite.secret, accessToken: Self.kite.token))
        exchange.upsertAccount(.upstox, SimCredentials(apiKey: Self.upstox.key, apiSecret: Self.upstox.secret, accessToken: Self.upstox.token))
        exchange.upsertAccount(.alpaca, SimCredentials(apiKey: Self.alpaca.key, apiSecret: Self.alpaca.secret, accessToken: nil))
        exchange.upsertAccount(.binance, SimCredentials(apiKey: Self.binance.key, apiSecret: Self.binance.secret, accessToken: nil))
    }

    deinit { simulator.stop() }

    var base: String { simulator.baseURL }

    func send(_ request: HTTPRequest) throws -> Reply {
        Reply(try client.send(request))
    }

    // MARK: Per broker

    func kite(_ method: HTTPMethod, _ path: String, form: [(String, String)]? = nil, token: String = kite.token,
              version: String? = "3") throws -> Reply {
        var headers = [("Authorization", "token \(Self.kite.key):\(token)")]
        if let version { headers.append(("X-Kite-Version", version)) }
        return try send(HTTPRequest(method, base + "/kite" + path, headers: headers, body: form.map { .form($0) } ?? .none))
    }

    func kiteOrder(_ symbol: String = "INFY", side: String = "BUY", quantity: String = "1", type: String = "MARKET", price: String? = nil,
                   tag: String? = nil, exchange: String = "NSE") throws -> Reply {
        var form = [("exchange", exchange), ("tradingsymbol", symbol), ("transaction_type", side), ("quantity", quantity),
                    ("product", "CNC"), ("order_type", type), ("validity", "DAY")]
        if let price { form.append(("price", price)) }
        if let tag { form.append(("tag", tag)) }
        return try kite(.post, "/orders/regular", form: form)
    }

    func upstox(_ method: HTTPMethod, _ path: String, json: String? = nil, token: String = upstox.token) throws -> Reply {
        try send(HTTPRequest(method, base + "/upstox" + path, headers: [("Authorization", "Bearer \(token)"), ("Accept", "application/json")],
                             body: json.map { .json(Data($0.utf8)) } ?? .none))
    }

    func upstoxOrder(token: String = "NSE_EQ|INE009A01021", side: String = "BUY", quantity: Int = 1, type: String = "MARKET",
                     price: String = "0", tag: String? = nil) throws -> Reply {
        let tagField = tag.map { ",\"tag\":\"\($0)\"" } ?? ""
        return try upstox(.post, "/v2/order/place", json: """
            {"quantity":\(quantity),"product":"D","validity":"DAY","price":\(price)\(tagField),"instrument_token":"\(token)",\
            "order_type":"\(type)","transaction_type":"\(side)","disclosed_quantity":0,"trigger_price":0,"is_amo":false}
            """)
    }

    func alpaca(_ method: HTTPMethod, _ path: String, json: String? = nil, secret: String = alpaca.secret) throws -> Reply {
        try send(HTTPRequest(method, base + "/alpaca" + path,
                             headers: [("APCA-API-KEY-ID", Self.alpaca.key), ("APCA-API-SECRET-KEY", secret)],
                             body: json.map { .json(Data($0.utf8)) } ?? .none))
    }

    func alpacaOrder(_ symbol: String = "AAPL", side: String = "buy", qty: String = "1", type: String = "market", limit: String? = nil,
                     clientID: String) throws -> Reply {
        let limitField = limit.map { ",\"limit_price\":\"\($0)\"" } ?? ""
        return try alpaca(.post, "/v2/orders", json: """
            {"symbol":"\(symbol)","qty":"\(qty)","side":"\(side)","type":"\(type)","time_in_force":"day","client_order_id":"\(clientID)"\(limitField)}
            """)
    }

    /// A signed Binance request: parameters (plus timestamp) in the query for GET/DELETE, in a form body for POST.
    func binance(_ method: HTTPMethod, _ path: String, _ params: [(String, String)], timestamp: Int? = nil, secret: String = binance.secret,
                 apiKey: String? = binance.key, tamper: Bool = false) throws -> Reply {
        let time = timestamp ?? Int(Date().timeIntervalSince1970 * 1000)
        let payload = HTTPRequest.formEncode(params + [("recvWindow", "5000"), ("timestamp", String(time))])
        var signature = HMACSHA256.hex(message: payload, key: secret)
        if tamper { signature = String(signature.reversed()) }
        let signed = payload + "&signature=" + signature
        let headers = apiKey.map { [("X-MBX-APIKEY", $0)] } ?? []
        if method == .post {
            return try send(HTTPRequest(method, base + "/binance" + path, headers: headers,
                                        body: .raw(Data(signed.utf8), contentType: "application/x-www-form-urlencoded")))
        }
        return try send(HTTPRequest(method, base + "/binance" + path + "?" + signed, headers: headers))
    }

    func binanceOrder(_ symbol: String = "BTCUSDT", side: String = "BUY", type: String = "MARKET", quantity: String = "0.01",
                      price: String? = nil, clientID: String? = nil) throws -> Reply {
        var params = [("symbol", symbol), ("side", side), ("type", type), ("quantity", quantity)]
        if let price { params += [("price", price), ("timeInForce", "GTC")] }
        if let clientID { params.append(("newClientOrderId", clientID)) }
        return try binance(.post, "/api/v3/order", params)
    }

    // MARK: Admin

    func admin(_ method: HTTPMethod, _ path: String, json: String? = nil) throws -> Reply {
        try send(HTTPRequest(method, base + "/admin" + path, body: json.map { .json(Data($0.utf8)) } ?? .none))
    }

    func pin(_ broker: String, _ symbol: String, _ price: String) throws {
        let reply = try admin(.post, "/prices", json: #"{"broker":"\#(broker)","symbol":"\#(symbol)","price":"\#(price)"}"#)
        #expect(reply.status == 200, "pin: \(reply.text)")
    }

    func truth(_ broker: String, _ apiKey: String) throws -> JSONValue {
        try admin(.get, "/truth?broker=\(broker)&api_key=\(apiKey)").json
    }
}

/// A response with its body parsed as JSON on demand.
struct Reply {
    let response: HTTPResponse
    init(_ response: HTTPResponse) { self.response = response }

    var status: Int { response.status }
    var text: String { response.text ?? "" }
    var json: JSONValue { (try? JSONValue.parse(response.body)) ?? .null }
    func header(_ name: String) -> String? { response.header(name) }
}

extension JSONValue {
    /// The field at a dotted path of keys and array indexes, e.g. `data.0.status`.
    func at(_ path: String) -> JSONValue? {
        var current: JSONValue? = self
        for part in path.split(separator: ".") {
            if let index = Int(part) {
                guard let items = current?.arrayValue, index < items.count else { return nil }
                current = items[index]
            } else {
                current = current?[String(part)]
            }
        }
        return current
    }

    func text(_ path: String) -> String? {
        guard let value = at(path) else { return nil }
        switch value {
        case .string(let text), .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        default: return nil
        }
    }

    var count: Int { arrayValue?.count ?? objectFields?.count ?? 0 }
}
