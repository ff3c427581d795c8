import Foundation
import TMHTTP

/// Alpaca Trading API v2 (paper: `https://paper-api.alpaca.markets`).
///
/// Guarantees: `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` on every call, opened only while the
/// request is built; JSON bodies with quantities and prices as exact decimal strings; the client
/// order id goes in `client_order_id` and is looked up with `GET /v2/orders:by_client_order_id`
/// (404 → nil); fills come from `GET /v2/account/activities/FILL` in ascending order, every page
/// of `pageSize` (≤ 100) consumed, resuming after the last activity id seen. Errors are mapped by
/// `AlpacaErrors`.
public struct AlpacaAdapter: BrokerAdapter {
    public let broker = BrokerKind.alpaca
    let baseURL: String
    let transport: BrokerTransport
    /// Activities per page; Alpaca allows at most 100.
    let pageSize: Int
    static let cursorKey = "page_token"

    public init(baseURL: String, http: AsyncHTTPClient, timeouts: BrokerTimeouts = BrokerTimeouts(), pageSize: Int = 100) {
        self.init(baseURL: baseURL, transport: BrokerTransport(http: http, timeouts: timeouts), pageSize: pageSize)
    }

    init(baseURL: String, transport: BrokerTransport, pageSize: Int = 100) {
        self.baseURL = baseURL
        self.transport = transport
        self.pageSize = min(max(pageSize, 1), 100)
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(order.clientOrderID, for: .alpaca)
        let body = try placementBody(order)
        let answer = try await call(.post, "/v2/orders", body: body, effect: .change, context: "alpaca order placement",
                                    credentials: credentials)
        return try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> BrokerOrder in
            try AlpacaWire.order(try JSONFields(answer, context: "alpaca order"))
        }
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        do {
            let answer = try await call(.get, "/v2/orders:by_client_order_id", query: [("client_order_id", clientOrderID)],
                                        effect: .read, context: "alpaca order", credentials: credentials)
            return try AlpacaWire.order(try JSONFields(answer, context: "alpaca order"))
        } catch .notFound {
            return nil
        }
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        _ = try await call(.delete, "/v2/orders/\(HTTPRequest.percentEncode(brokerOrderID))", effect: .change,
                           context: "alpaca order cancellation", credentials: credentials)
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        let answer = try await call(.get, "/v2/orders", query: [("status", "all"), ("limit", "500"), ("direction", "desc")],
                                    effect: .read, context: "alpaca orders", credentials: credentials)
        var orders: [BrokerOrder] = []
        for row in try answer.rows(context: "alpaca order") { orders.append(try AlpacaWire.order(row)) }
        return orders
    }

    /// Every fill after the cursor's activity id: pages in ascending order, each starting after the
    /// previous page's last id, until a page comes back short.
    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        var trades: [BrokerTrade] = []
        var token = cursor.values[Self.cursorKey]
        while true {
            var query = [("direction", "asc"), ("page_size", String(pageSize))]
            if let token { query.append(("page_token", token)) }
            let answer = try await call(.get, "/v2/account/activities/FILL", query: query, effect: .read,
                                        context: "alpaca activities", credentials: credentials)
            let rows = try answer.rows(context: "alpaca fill activity")
            for row in rows { trades.append(try AlpacaWire.fill(row)) }
            guard rows.count == pageSize, let last = trades.last?.brokerTradeID else { break }
            // A broker that ignored page_token would loop forever on the same page.
            guard last != token else { throw BrokerError.invalidResponse(reason: "alpaca activities: paging made no progress") }
            token = last
        }
        var next = cursor
        if let last = trades.last { next.values[Self.cursorKey] = last.brokerTradeID }
        return TradeBatch(trades: trades, next: next)
    }

    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        let answer = try await call(.get, "/v2/positions", effect: .read, context: "alpaca positions", credentials: credentials)
        var positions: [BrokerPosition] = []
        for row in try answer.rows(context: "alpaca position") { positions.append(try AlpacaWire.position(row)) }
        return positions
    }

    // INTERIM (issue 10, being built): replaced by the real calls before the issue closes.
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        throw BrokerError.unavailable(reason: "alpaca modify: not built yet")
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        throw BrokerError.unavailable(reason: "alpaca funds: not built yet")
    }

    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        throw BrokerError.unavailable(reason: "alpaca last prices: not built yet")
    }
}
