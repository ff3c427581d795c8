import Foundation
import TMCore
import TMCrypto
import TMHTTP

/// Binance's request signature, kept apart so the documented test vector can check it directly.
///
/// Guarantees: `signature` is lowercase hex HMAC-SHA256 of exactly the bytes sent; `signedQuery`
/// appends `recvWindow` and `timestamp` after the caller's parameters and `signature` last.
public enum BinanceSigning {
    public static func signature(payload: String, secret: String) -> String {
        HMACSHA256.hex(message: payload, key: secret)
    }

    public static func signedQuery(_ parameters: [(String, String)], recvWindow: Int, timestamp: Int64, secret: String) -> String {
        let payload = HTTPRequest.formEncode(parameters + [("recvWindow", String(recvWindow)), ("timestamp", String(timestamp))])
        return payload + "&signature=" + signature(payload: payload, secret: secret)
    }
}

extension BinanceAdapter {
    /// Builds (key and secret open only here), signs, sends and reads one call; a non-2xx answer is
    /// mapped by `BinanceErrors`.
    func signedCall(_ method: HTTPMethod, _ path: String, _ parameters: [(String, String)], effect: CallEffect, context: String,
                    credentials: BrokerCredentials) async throws(BrokerError) -> JSONValue {
        let request = try credentials.opened(for: .binance) { opened throws(BrokerError) -> HTTPRequest in
            let secret = try opened.requireSecret(.binance)
            let query = BinanceSigning.signedQuery(parameters, recvWindow: recvWindow, timestamp: WireTime.milliseconds(clock()),
                                                   secret: secret)
            return HTTPRequest(method, baseURL + path + "?" + query, headers: [("X-MBX-APIKEY", opened.apiKey)])
        }
        let response = try await transport.send(request, effect: effect)
        guard response.isSuccess else { throw BinanceErrors.map(response, effect: effect) }
        return try BrokerError.decodingAnswer(to: effect) { () throws(BrokerError) -> JSONValue in
            try JSONValue.body(of: response, context: context)
        }
    }

    /// `POST /api/v3/order` parameters. Binance has no DAY validity (it trades around the clock), so
    /// `day` is sent as GTC; `timeInForce` goes only with the types that take it.
    func placementParameters(_ order: OrderRequest) throws(BrokerError) -> [(String, String)] {
        let type: String
        switch order.type {
        case .market: type = "MARKET"
        case .limit: type = "LIMIT"
        case .stop: type = "STOP_LOSS"
        case .stopLimit: type = "STOP_LOSS_LIMIT"
        }
        var parameters: [(String, String)] = [("symbol", order.symbol), ("side", order.side == .buy ? "BUY" : "SELL"), ("type", type)]
        if order.type == .limit || order.type == .stopLimit {
            let validity: String
            switch order.timeInForce {
            case .day, .gtc: validity = "GTC"
            case .ioc: validity = "IOC"
            case .fok: validity = "FOK"
            }
            parameters.append(("timeInForce", validity))
        }
        parameters.append(("quantity", DecimalText.plain(order.quantity)))
        parameters += try OrderPrices.fields(order, broker: .binance, limitName: "price", stopName: "stopPrice")
        parameters += [("newClientOrderId", order.clientOrderID), ("newOrderRespType", "RESULT")]
        return parameters
    }
}

extension BinanceAdapter {
    /// A public ticker request (neither key nor signature); `symbols` is the JSON array Binance
    /// documents (`["BTCUSDT","ETHUSDT"]`), percent-encoded. The answer: one object per symbol.
    func ticker(_ symbols: [String], path: String, context: String,
                read: (JSONFields) throws(BrokerError) -> (Decimal, Decimal?)) async throws(BrokerError) -> [String: (Decimal, Decimal?)] {
        let list = "[" + symbols.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let request = HTTPRequest(.get, HTTPRequest.url(baseURL + path, query: [("symbols", list)]))
        let response = try await transport.send(request, effect: .read)
        guard response.isSuccess else { throw BinanceErrors.map(response, effect: .read) }
        let answer = try JSONValue.body(of: response, context: context)
        let rows: [JSONFields]
        if case .array = answer { rows = try answer.rows(context: context) } else { rows = [try JSONFields(answer, context: context)] }
        var prices: [String: (Decimal, Decimal?)] = [:]
        for row in rows { prices[try row.text("symbol")] = try read(row) }
        return prices
    }
}
