import Foundation
import TMCore
import TMHTTP

/// Binance Spot (`https://api.binance.com`): signed `USER_DATA`/`TRADE` requests, and the public
/// price ticker.
///
/// Guarantees: parameters travel in the query string with `recvWindow` and `timestamp` appended and
/// `signature` = hex HMAC-SHA256(secret, query) last (no body is sent, so query ‖ body = query);
/// `X-MBX-APIKEY` carries the key; both are opened only while the request is built. The client
/// order id goes in `newClientOrderId` (≤ 36 of `[A-Za-z0-9_-]`, checked before sending) and is
/// looked up with `origClientOrderId` — which needs the symbol, and may lag a fresh placement
/// (`-2013` → nil). `orders` reads the open orders of all symbols and, for each symbol named, that
/// symbol's orders updated in the last 24 hours (`allOrders` with `startTime` = the adapter's clock
/// − 24 h, which Binance filters by the last update; no `endTime`, since Binance caps a window at
/// 24 h), merged by `orderId` keeping the newer `updateTime`: an order that filled or ended between
/// two syncs is no longer open, and only this list says how it ended. At most 1000 orders per
/// symbol and day are read (Binance's page limit; `orderId` paging is ignored once a time is given).
/// A symbol Binance does not list (`-1121`) has no orders and no trades: it is skipped, so one
/// stale symbol cannot stop an account's syncs.
/// Trades are read per symbol with `fromId` after the last trade id in the cursor, every page
/// consumed; a trade id is unique only per symbol, so `brokerTradeID` is `SYMBOL:id`. Positions are
/// the non-zero balances (free + locked) except `cashAssets`, with average price 0 (Binance keeps no
/// cost basis); funds are the `cashAssets` balances (available = free, used = locked, total = both).
/// `modifyOrder` is one `cancelReplace` with `STOP_ON_FAILURE`: the original is cancelled and the
/// replacement placed under `replacementClientOrderID`, or nothing happens (see `BinanceErrors` for
/// the partial failure). `lastPrices` is one public `ticker/price?symbols=[...]` call for the batch.
/// Errors are mapped by `BinanceErrors`.
///
/// What Binance reports that the platform ignores, and why:
/// - orders: `orderListId` (the platform places no OCO lists), `timeInForce` (not in the order
///   model; the platform knows what it sent), `icebergQty` (no iceberg orders are placed),
///   `isWorking`/`workingTime` (the status says whether the order is live), `origQuoteOrderQty` (the
///   platform never orders by quote amount), `selfTradePreventionMode`, `preventedMatchId` and
///   `preventedQuantity` (an order expired by self-trade prevention is `EXPIRED_IN_MATCH` → expired),
///   `strategyId`/`strategyType`/`trailingDelta`/`trailingTime` (never set by the platform), the
///   `fills` of a FULL answer (the fills come from `myTrades`, with their ids; placement asks for
///   RESULT), `cancelResponse` of a cancel-replace (the cancelled order is read by the next sync);
/// - trades: `orderListId` (as above), `isBestMatch` (Binance spot reports it true for every trade:
///   it says nothing about this fill), `isBuyer` becomes the side;
/// - account: commission rates and flags (`canTrade`, `permissions`, `uid`, `accountType`,
///   `updateTime`): account settings, not holdings or money.
public struct BinanceAdapter: BrokerAdapter, LastPriceSource {
    public let broker = BrokerKind.binance
    let baseURL: String
    let transport: BrokerTransport
    /// Milliseconds the request stays valid after `timestamp` (Binance's default 5000, max 60000).
    let recvWindow: Int
    /// Quote and cash assets, which are money rather than positions.
    let cashAssets: Set<String>
    /// Where `timestamp` comes from; injectable so tests can sign deterministically.
    let clock: @Sendable () -> Date
    /// Trades per `myTrades` page and orders per `allOrders` answer (Binance's maximum).
    static let tradePageSize = 1000
    /// How far back `orders(symbols:)` reads a symbol's orders (Binance's longest `allOrders` window).
    static let recentOrdersWindow: TimeInterval = 24 * 60 * 60

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
        var orders = try BinanceWire.orders(answer, context: "binance order")
        let since = String(WireTime.milliseconds(clock().addingTimeInterval(-Self.recentOrdersWindow)))
        for symbol in Set(symbols).sorted() {
            let recent: JSONValue
            do {
                recent = try await signedCall(
                    .get, "/api/v3/allOrders", [("symbol", symbol), ("startTime", since), ("limit", String(Self.tradePageSize))],
                    effect: .read, context: "binance recent orders", credentials: credentials)
            } catch {
                // A symbol Binance does not list has no orders; one bad symbol must not stop every sync.
                guard Self.isUnknownSymbol(error) else { throw error }
                continue
            }
            orders = BinanceWire.merged(orders, try BinanceWire.orders(recent, context: "binance order"))
        }
        return orders
    }

    /// The cursor maps each symbol to its last trade id; symbols named now or before are all read.
    public func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch {
        var trades: [BrokerTrade] = []
        var next = cursor
        for symbol in Set(symbols).union(cursor.values.keys).sorted() {
            var fromID = cursor.values[symbol].flatMap(Int64.init).map { $0 + 1 } ?? 0
            while true {
                let answer: JSONValue
                do {
                    answer = try await signedCall(
                        .get, "/api/v3/myTrades", [("symbol", symbol), ("fromId", String(fromID)), ("limit", String(Self.tradePageSize))],
                        effect: .read, context: "binance trades", credentials: credentials)
                } catch {
                    // A symbol Binance does not list (a stale or mistyped one) has no trades.
                    guard Self.isUnknownSymbol(error) else { throw error }
                    break
                }
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
        try await balances(credentials: credentials).filter { !cashAssets.contains($0.asset) }.map { balance in
            BrokerPosition(symbol: balance.asset, exchange: nil, quantity: balance.free + balance.locked, averagePrice: 0)
        }
    }

    public func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds] {
        try await balances(credentials: credentials).filter { cashAssets.contains($0.asset) }.map { balance in
            BrokerFunds(currency: balance.asset, available: balance.free, used: balance.locked, total: balance.free + balance.locked)
        }
    }

    /// The account's non-zero balances, in Binance's order (`GET /api/v3/account`).
    func balances(credentials: BrokerCredentials) async throws -> [(asset: String, free: Decimal, locked: Decimal)] {
        let answer = try await signedCall(.get, "/api/v3/account", [("omitZeroBalances", "true")], effect: .read,
                                          context: "binance account", credentials: credentials)
        var balances: [(asset: String, free: Decimal, locked: Decimal)] = []
        for balance in try JSONFields(answer, context: "binance account").rows("balances", context: "binance balance") {
            let (free, locked) = (try balance.decimal("free"), try balance.decimal("locked"))
            guard free + locked != 0 else { continue }
            balances.append((try balance.text("asset"), free, locked))
        }
        return balances
    }

    /// One `cancelReplace` (`STOP_ON_FAILURE`): the replacement is the order `placeOrder` would send,
    /// under `replacementClientOrderID`, and it is what comes back.
    public func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder {
        try ClientOrderID.validate(modification.replacementClientOrderID, for: .binance)
        let replacement = OrderRequest(
            clientOrderID: modification.replacementClientOrderID, symbol: modification.symbol, side: modification.side,
            quantity: modification.quantity, type: modification.type, limitPrice: modification.limitPrice,
            stopPrice: modification.stopPrice, timeInForce: modification.timeInForce)
        let parameters = try placementParameters(replacement)
            + [("cancelReplaceMode", "STOP_ON_FAILURE"), ("cancelOrderId", modification.brokerOrderID)]
        let answer = try await signedCall(.post, "/api/v3/order/cancelReplace", parameters, effect: .change,
                                          context: "binance order cancel-replace", credentials: credentials)
        return try BrokerError.decodingAnswer(to: .change) { () throws(BrokerError) -> BrokerOrder in
            try BinanceWire.order(try JSONFields(answer, context: "binance cancel-replace").object("newOrderResponse"))
        }
    }

    /// Public `GET /api/v3/ticker/price?symbols=[...]`, 100 symbols a request.
    public func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await tickers(instruments, path: "/api/v3/ticker/price", context: "binance prices") { row throws(BrokerError) in
            (try row.decimal("price"), nil)
        }
    }

    /// Public `GET /api/v3/ticker/24hr?symbols=[...]`, 100 symbols a request: `lastPrice` and
    /// `prevClosePrice` (the close before the rolling 24-hour window: crypto has no session).
    public func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice] {
        try await tickers(instruments, path: "/api/v3/ticker/24hr", context: "binance 24h tickers") { row throws(BrokerError) in
            (try row.decimal("lastPrice"), try row.optionalDecimal("prevClosePrice"))
        }
    }

    /// One public ticker endpoint over the instruments' symbols in batches. Binance refuses a whole
    /// batch naming a symbol it does not list (`-1121`); then each symbol of it is asked alone and
    /// the unknown ones are left out.
    func tickers(_ instruments: [InstrumentRef], path: String, context: String,
                 read: (JSONFields) throws(BrokerError) -> (Decimal, Decimal?)) async throws(BrokerError) -> [LastPrice] {
        var prices: [String: (Decimal, Decimal?)] = [:]
        for batch in QuoteBatches.batches(instruments.map(\.symbol).distinctInOrder().sorted(), .binance) {
            var asked = [Array(batch)]
            do {
                for (symbol, price) in try await ticker(asked[0], path: path, context: context, read: read) { prices[symbol] = price }
                asked = []
            } catch {
                guard Self.isUnknownSymbol(error), batch.count > 1 else { throw error }
                asked = batch.map { [$0] }
            }
            for single in asked {
                do {
                    for (symbol, price) in try await ticker(single, path: path, context: context, read: read) { prices[symbol] = price }
                } catch {
                    guard Self.isUnknownSymbol(error) else { throw error }
                }
            }
        }
        return instruments.compactMap { instrument in
            prices[instrument.symbol].map { LastPrice(instrument: instrument, price: $0.0, previousClose: $0.1) }
        }
    }

    /// Binance's `-1121` "Invalid symbol.": the symbol is not listed.
    static func isUnknownSymbol(_ error: BrokerError) -> Bool {
        if case .rejected(_, let code) = error { return code == "-1121" }
        return false
    }

    private static func requireSymbol(_ symbol: String?, for action: String) throws(BrokerError) -> String {
        guard let symbol, !symbol.isEmpty else {
            throw .rejected(reason: "Binance needs the symbol to \(action)", code: "SYMBOL_REQUIRED")
        }
        return symbol
    }
}
