import Foundation
import TMCore
import TMHTTP

extension AlpacaAdapter {
    /// Builds (keys open only here), sends and reads one Alpaca call; a non-2xx answer is mapped by
    /// `AlpacaErrors`; an empty 2xx body (204 after a cancel) reads as `null`.
    func call(_ method: HTTPMethod, _ path: String, base: String? = nil, query: [(String, String)] = [], body: JSONValue? = nil,
              effect: CallEffect, context: String, credentials: BrokerCredentials) async throws(BrokerError) -> JSONValue {
        let request = try credentials.opened(for: .alpaca) { opened throws(BrokerError) -> HTTPRequest in
            let secret = try opened.requireSecret(.alpaca)
            return HTTPRequest(method, HTTPRequest.url((base ?? baseURL) + path, query: query),
                               headers: [("APCA-API-KEY-ID", opened.apiKey), ("APCA-API-SECRET-KEY", secret), ("Accept", "application/json")],
                               body: body.map { .json($0.data) } ?? .none)
        }
        let response = try await transport.send(request, effect: effect)
        guard response.isSuccess else { throw AlpacaErrors.map(response, effect: effect) }
        if response.body.isEmpty { return .null }
        return try BrokerError.decodingAnswer(to: effect) { () throws(BrokerError) -> JSONValue in
            try JSONValue.body(of: response, context: context)
        }
    }

    /// The `POST /v2/orders` body.
    func placementBody(_ order: OrderRequest) throws(BrokerError) -> JSONValue {
        var body: [(key: String, value: JSONValue)] = [
            ("symbol", .string(order.symbol)),
            ("qty", .string(DecimalText.plain(order.quantity))),
            ("side", .string(order.side.rawValue)),
            ("type", .string(order.type.rawValue)),
            ("time_in_force", .string(order.timeInForce.rawValue)),
        ]
        for (name, value) in try OrderPrices.fields(order, broker: .alpaca, limitName: "limit_price", stopName: "stop_price") {
            body.append((name, .string(value)))
        }
        body.append(("client_order_id", .string(order.clientOrderID)))
        return .object(body)
    }

    /// The `PATCH /v2/orders/{order_id}` body: every documented field the modification sets (Alpaca
    /// keeps the old order's value for any left out), the prices its type takes.
    func replacementBody(_ modification: OrderModification) throws(BrokerError) -> JSONValue {
        var body: [(key: String, value: JSONValue)] = [
            ("qty", .string(DecimalText.plain(modification.quantity))),
            ("time_in_force", .string(modification.timeInForce.rawValue)),
        ]
        let prices = OrderRequest(clientOrderID: modification.replacementClientOrderID, symbol: modification.symbol, side: modification.side,
                                  quantity: modification.quantity, type: modification.type, limitPrice: modification.limitPrice,
                                  stopPrice: modification.stopPrice, timeInForce: modification.timeInForce)
        for (name, value) in try OrderPrices.fields(prices, broker: .alpaca, limitName: "limit_price", stopName: "stop_price") {
            body.append((name, .string(value)))
        }
        body.append(("client_order_id", .string(modification.replacementClientOrderID)))
        return .object(body)
    }
}
