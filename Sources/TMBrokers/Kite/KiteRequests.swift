import Foundation
import TMCore
import TMHTTP

extension KiteAdapter {
    /// Builds (credentials open only here), sends and unwraps one Kite call; a non-2xx answer is
    /// mapped by `KiteErrors`.
    func call(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], form: [(String, String)]? = nil,
              effect: CallEffect, context: String, credentials: BrokerCredentials) async throws(BrokerError) -> JSONValue {
        let request = try credentials.opened(for: .kite) { opened throws(BrokerError) -> HTTPRequest in
            let token = try opened.requireAccessToken(.kite)
            return HTTPRequest(method, HTTPRequest.url(baseURL + path, query: query),
                               headers: [("X-Kite-Version", "3"), ("Authorization", "token \(opened.apiKey):\(token)")],
                               body: form.map { .form($0) } ?? .none)
        }
        let response = try await transport.send(request, effect: effect)
        guard response.isSuccess else { throw KiteErrors.map(response, effect: effect) }
        do {
            return try SuccessEnvelope.data(of: response, context: context, effect: effect)
        } catch {
            throw KiteErrors.errorInSuccess(response, effect: effect) ?? error
        }
    }

    /// The `POST /orders/{variety}` form, in Kite's parameter names.
    func placementForm(_ order: OrderRequest) throws(BrokerError) -> [(String, String)] {
        let quantity = try IndianBrokerWire.wholeQuantity(order.quantity, broker: .kite)
        var form: [(String, String)] = [
            ("exchange", order.exchange ?? "NSE"),
            ("tradingsymbol", order.symbol),
            ("transaction_type", IndianBrokerWire.sideWord(order.side)),
            ("quantity", DecimalText.plain(quantity)),
            ("product", order.product ?? "CNC"),
            ("order_type", IndianBrokerWire.orderTypeWord(order.type)),
            ("validity", try IndianBrokerWire.validityWord(order.timeInForce, broker: .kite)),
        ]
        try form.append(contentsOf: OrderPrices.fields(order, broker: .kite, limitName: "price", stopName: "trigger_price"))
        if order.type == .market || order.type == .stop { form.append(("market_protection", marketProtection)) }
        form.append(("tag", order.clientOrderID))
        return form
    }

    /// The `PUT /orders/{variety}/{order_id}` form (Kite's documented parameters: order_type,
    /// quantity, validity, price, trigger_price), with the prices the new type uses.
    func modificationForm(_ modification: OrderModification) throws(BrokerError)
        -> (form: [(String, String)], prices: (limit: Decimal?, stop: Decimal?)) {
        let quantity = try IndianBrokerWire.wholeQuantity(modification.quantity, broker: .kite)
        let asOrder = OrderRequest(clientOrderID: modification.replacementClientOrderID, symbol: modification.symbol,
                                   exchange: modification.exchange, side: modification.side, quantity: quantity, type: modification.type,
                                   limitPrice: modification.limitPrice, stopPrice: modification.stopPrice,
                                   timeInForce: modification.timeInForce)
        var form: [(String, String)] = [
            ("order_type", IndianBrokerWire.orderTypeWord(modification.type)),
            ("quantity", DecimalText.plain(quantity)),
            ("validity", try IndianBrokerWire.validityWord(modification.timeInForce, broker: .kite)),
        ]
        try form.append(contentsOf: OrderPrices.fields(asOrder, broker: .kite, limitName: "price", stopName: "trigger_price"))
        return (form, try OrderPrices.checked(asOrder, broker: .kite))
    }
}
