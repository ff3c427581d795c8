import Foundation

/// A broker account's credentials, opened only for the duration of one call.
///
/// Guarantees: the opened values exist only inside `withOpened`'s body; `description` and
/// `debugDescription` never show them, so interpolating credentials into a log or an error prints
/// `<redacted>`.
public struct BrokerCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The plaintext values while a call runs.
    public struct Opened: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
        public let apiKey: String
        public let apiSecret: String?
        public let accessToken: String?
        public init(apiKey: String, apiSecret: String? = nil, accessToken: String? = nil) {
            self.apiKey = apiKey
            self.apiSecret = apiSecret
            self.accessToken = accessToken
        }
        public var description: String { "<redacted>" }
        public var debugDescription: String { "<redacted>" }
    }

    private let open: @Sendable () throws -> Opened

    /// Credentials opened on demand (e.g. unsealed from `broker_accounts` with the secret keyring).
    public init(open: @escaping @Sendable () throws -> Opened) { self.open = open }

    /// Plain credentials, for the simulator and tests.
    public static func plain(apiKey: String, apiSecret: String? = nil, accessToken: String? = nil) -> BrokerCredentials {
        let opened = Opened(apiKey: apiKey, apiSecret: apiSecret, accessToken: accessToken)
        return BrokerCredentials { opened }
    }

    public func withOpened<T>(_ body: (Opened) throws -> T) throws -> T { try body(try open()) }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// One broker's API, normalised. One adapter per broker speaks its real wire format over libcurl
/// (`TMHTTP`); every failure is a `BrokerError`.
///
/// Guarantees (every adapter): calls are safe to run concurrently; `placeOrder` sends the client
/// order id the broker's way (Alpaca `client_order_id`, Binance `newClientOrderId`, Kite/Upstox
/// `tag`); no credential appears in any error or log line; money and quantities are `Decimal`
/// parsed from the broker's text, never through `Double`.
public protocol BrokerAdapter: Sendable {
    var broker: BrokerKind { get }
    /// Places an order; returns it as the broker acknowledged it (status usually open or filled).
    func placeOrder(_ order: OrderRequest, credentials: BrokerCredentials) async throws -> BrokerOrder
    /// The order with this client id, or nil when the broker has none (Binance needs the symbol).
    func order(clientOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws -> BrokerOrder?
    func cancelOrder(brokerOrderID: String, symbol: String?, credentials: BrokerCredentials) async throws
    /// Changes a working order's quantity or prices; returns the order as the broker now reports it
    /// (Alpaca and Binance: the replacement order, under `replacementClientOrderID`).
    func modifyOrder(_ modification: OrderModification, credentials: BrokerCredentials) async throws -> BrokerOrder
    /// The account's open and recently closed orders: Kite/Upstox the day's, Alpaca the latest of
    /// any status, Binance the open ones plus, for each of `symbols`, those of the last 24 hours
    /// (Binance lists closed orders only per symbol; the other brokers ignore `symbols`).
    func orders(symbols: [String], credentials: BrokerCredentials) async throws -> [BrokerOrder]
    /// Every trade after `cursor` (all pages), oldest first, and the cursor to resume from.
    /// `symbols` names the symbols to read where the broker lists trades per symbol (Binance).
    func trades(since cursor: TradeCursor, symbols: [String], credentials: BrokerCredentials) async throws -> TradeBatch
    func positions(credentials: BrokerCredentials) async throws -> [BrokerPosition]
    /// What the account may spend, per segment or currency.
    func funds(credentials: BrokerCredentials) async throws -> [BrokerFunds]
    /// The last traded price of each instrument the broker knows (unknown ones are left out).
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice]
}

extension BrokerAdapter {
    /// The open and recent orders the broker lists without naming symbols.
    public func orders(credentials: BrokerCredentials) async throws -> [BrokerOrder] {
        try await orders(symbols: [], credentials: credentials)
    }
}
