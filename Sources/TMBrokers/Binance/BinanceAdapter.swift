import Foundation
import TMHTTP

/// Binance Spot (`https://api.binance.com`), every call a signed `USER_DATA`/`TRADE` request.
///
/// Guarantees: parameters travel in the query string with `recvWindow` and `timestamp` appended and
/// `signature` = hex HMAC-SHA256(secret, query) last (no body is sent, so query ‖ body = query);
/// `X-MBX-APIKEY` carries the key; both are opened only while the request is built. The client
/// order id goes in `newClientOrderId` (≤ 36 of `[A-Za-z0-9_-]`, checked before sending) and is
/// looked up with `origClientOrderId` — which needs the symbol, and may lag a fresh placement
/// (`-2013` → nil). `orders` reads the open orders of all symbols. Trades are read per symbol with
/// `fromId` after the last trade id in the cursor, every page consumed; a trade id is unique only
/// per symbol, so `brokerTradeID` is `SYMBOL:id`. Positions are the non-zero balances
/// (free + locked) except `cashAssets`, with average price 0 (Binance keeps no cost basis).
/// Errors are mapped by `BinanceErrors`.
public struct BinanceAdapter: BrokerAdapter {
    public let broker = BrokerKind.binance
    let baseURL: String
    let transport: BrokerTransport
    /// Milliseconds the request stays valid after `timestamp` (Binance's default 5000, max 60000).
    let recvWindow: Int
    /// Quote and cash assets, which are money rather than positions.
    let cashAssets: Set<String>
    /// Where `timestamp` comes from; injectable so tests can sign deterministically.
    let clock: @Sendable () -> Date
    /// Trades per `myTrades` page (Binance's maximum).
    static let tradePageSize = 1000

    public static let defaultCashAssets: Set<String> = ["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR"]

    public init(baseURL: String, http: AsyncHTTPClient, timeouts: BrokerTimeouts = BrokerTimeouts(), recvWindow: Int = 5000,
                cashAssets: Set<String> = BinanceAdapter.defaultCashAssets, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.init(baseURL: baseURL, transport: BrokerTransport(http: http, timeouts: timeouts), recvWindow: recvWindow,
                  cashAssets: cashAssets, clock: clock)
    }

    init(baseURL: String, transport: BrokerTransport, recvWindow: Int = 5000, cashAssets: Set<String> = BinanceAdapter.defaultCashAssets,
         clock: @escaping @Sendable () -> Date = { Date() }) {
        self.baseURL = baseURL
        self.transport = transport
        self.recvWindow = min(max(recvWindow, 1), 60_000)
        self.cashAssets = cashAssets
        self.clock = clock
    }

    public func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(order.clientOrderID, for: .binance)
        let parameters = try placementParameters(order)
        let answer = try await signedCall(.post, "/api/v3/order", parameters, effect: .change, context: "binance order placement",
                                          credentials: credentials)
        return try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> BrokerOrder in
            try BinanceWire.order(try JSONFields(answer, context: "binance order"))
        }
    }

    public func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder? {
        let symbol = try Self.requireSymbol(symbol, for: "look up an order")
        do {
            let answer = try await signedCall(.get, "/api/v3/order", [("symbol", symbol), ("origClientOrderId", clientOrderID)],
                                              effect: .read, context: "binance order", credentials: credentials)
            return try BinanceWire.order(try JSONFields(answer, context: "binance order"))
        } catch .notFound {
            return nil
        }
    }

    public func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws {
        let symbol = try Self.requireSymbol(symbol, for: "cancel an order")
        _ = try await signedCall(.delete, "/api/v3/order", [("symbol", symbol), ("orderId", brokerOrderID)], effect: .change,
                                 context: "binance order cancellation", credentials: credentials)
    }

    public func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        let answer = try await signedCall(.get, "/api/v3/openOrders", [], effect: .read, context: "binance open orders",
                                          credentials: credentials)
        var orders: [BrokerOrder] = []
        for row in try answer.rows(context: "binance order") { orders.append(try BinanceWire.order(row)) }
        return orders
    }

    /// The cursor maps each symbol to its last trade id; symbols named now or before are all read.
    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        var trades: [BrokerTrade] = []
        var next = cursor
        for symbol in Set(symbols).union(cursor.values.keys).sorted() {
            var fromID = cursor.values[symbol].flatMap(Int64.init).map { $0 + 1 } ?? 0
            while true {
                let answer = try await signedCall(
                    .get, "/api/v3/myTrades", [("symbol", symbol), ("fromId", String(fromID)), ("limit", String(Self.tradePageSize))],
                    effect: .read, context: "binance trades", credentials: credentials)
                let rows = try answer.rows(context: "binance trade")
                var lastID: Int64?
                for row in rows {
                    let (trade, id) = try BinanceWire.trade(row, symbol: symbol)
                    trades.append(trade)
                    lastID = max(lastID ?? id, id)
                }
                guard let lastID else { break }
                next.values[symbol] = String(lastID)
                guard rows.count == Self.tradePageSize else { break }
                guard lastID + 1 > fromID else { throw BrokerError.invalidResponse(reason: "binance trades: paging made no progress") }
                fromID = lastID + 1
            }
        }
        trades.sort { ($0.executedAt, $0.brokerTradeID) < ($1.executedAt, $1.brokerTradeID) }
        return TradeBatch(trades: trades, next: next)
    }

    public func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition] {
        let answer = try await signedCall(.get, "/api/v3/account", [("omitZeroBalances", "true")], effect: .read,
                                          context: "binance account", credentials: credentials)
        var positions: [BrokerPosition] = []
        for balance in try JSONFields(answer, context: "binance account").rows("balances", context: "binance balance") {
            let asset = try balance.text("asset")
            let quantity = try balance.decimal("free") + balance.decimal("locked")
            guard quantity != 0, !cashAssets.contains(asset) else { continue }
            positions.append(BrokerPosition(symbol: asset, exchange: nil, quantity: quantity, averagePrice: 0))
        }
        return positions
    }

    private static func requireSymbol(_ symbol: String?, for action: String) throws(BrokerError) -> String {
        guard let symbol, !symbol.isEmpty else {
            throw .rejected(reason: "Binance needs the symbol to \(action)", code: "SYMBOL_REQUIRED")
        }
        return symbol
    }

    // INTERIM (issue 10, being built): replaced by the real calls before the issue closes.
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        throw BrokerError.unavailable(reason: "binance modify: not built yet")
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        throw BrokerError.unavailable(reason: "binance funds: not built yet")
    }

    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        throw BrokerError.unavailable(reason: "binance last prices: not built yet")
    }
}
