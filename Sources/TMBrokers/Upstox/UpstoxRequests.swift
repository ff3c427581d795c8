import Foundation
import TMCore
import TMHTTP

extension UpstoxAdapter {
    /// Builds (the token open only here), sends and unwraps one Upstox call; a non-2xx answer is
    /// mapped by `UpstoxErrors`.
    func call(_ method: HTTPMethod, _ base: String, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
              effect: CallEffect, context: String, credentials: BrokerCredentials) async throws(BrokerError) -> JSONValue {
        let request = try credentials.opened(for: .upstox) { opened throws(BrokerError) -> HTTPRequest in
            let token = try opened.requireAccessToken(.upstox)
            return HTTPRequest(method, HTTPRequest.url(base + path, query: query),
                               headers: [("Authorization", "Bearer \(token)"), ("Accept", "application/json"), ("Api-Version", "2.0")],
                               body: body.map { .json($0.data) } ?? .none)
        }
        let response = try await transport.send(request, effect: effect)
        guard response.isSuccess else { throw UpstoxErrors.map(response, effect: effect) }
        return try SuccessEnvelope.data(of: response, context: context, effect: effect)
    }

    /// The `POST /v2/order/place` body: Upstox wants every field, with 0 for prices an order type
    /// does not use.
    func placementBody(_ order: OrderRequest) throws(BrokerError) -> JSONValue {
        let quantity = try IndianBrokerWire.wholeQuantity(order.quantity, broker: .upstox)
        let prices = try OrderPrices.checked(order, broker: .upstox)
        return .object([
            ("quantity", .decimal(quantity)),
            ("product", .string(order.product ?? "D")),
            ("validity", .string(try IndianBrokerWire.validityWord(order.timeInForce, broker: .upstox))),
            ("price", .decimal(prices.limit ?? 0)),
            ("tag", .string(order.clientOrderID)),
            ("instrument_token", .string(try UpstoxWire.instrumentKey(symbol: order.symbol, brokerToken: order.brokerToken,
                                                                      field: "OrderRequest.brokerToken"))),
            ("order_type", .string(IndianBrokerWire.orderTypeWord(order.type))),
            ("transaction_type", .string(IndianBrokerWire.sideWord(order.side))),
            ("disclosed_quantity", .number("0")),
            ("trigger_price", .decimal(prices.stop ?? 0)),
            ("is_amo", .bool(false)),
        ])
    }

    /// The `PUT /v2/order/modify` body: Upstox wants the order type, validity and both prices again
    /// (0 for a price the type does not use), like a placement.
    func modificationBody(_ modification: OrderModification) throws(BrokerError) -> JSONValue {
        let quantity = try IndianBrokerWire.wholeQuantity(modification.quantity, broker: .upstox)
        let asOrder = OrderRequest(clientOrderID: modification.replacementClientOrderID, symbol: modification.symbol,
                                   side: modification.side, quantity: modification.quantity, type: modification.type,
                                   limitPrice: modification.limitPrice, stopPrice: modification.stopPrice,
                                   timeInForce: modification.timeInForce)
        let prices = try OrderPrices.checked(asOrder, broker: .upstox)
        return .object([
            ("order_id", .string(modification.brokerOrderID)),
            ("quantity", .decimal(quantity)),
            ("validity", .string(try IndianBrokerWire.validityWord(modification.timeInForce, broker: .upstox))),
            ("price", .decimal(prices.limit ?? 0)),
            ("order_type", .string(IndianBrokerWire.orderTypeWord(modification.type))),
            ("disclosed_quantity", .number("0")),
            ("trigger_price", .decimal(prices.stop ?? 0)),
        ])
    }
}
