import Foundation

/// What market data asks a broker: the last traded price of many instruments at once, and, less
/// often, the same with the previous session's close.
///
/// Why two calls: the previous close changes once a session, while the last price is polled every
/// second; the call that carries the close is heavier at every broker (Kite `/quote/ohlc`, Upstox
/// OHLC, Alpaca snapshots, Binance's 24-hour ticker weighs up to 40 times the price ticker), so
/// market data asks for it only for instruments whose close it does not know yet.
///
/// Guarantees (every implementation): instruments are batched within the broker's documented
/// per-request limit (`QuoteBatches`); an instrument the broker does not know is left out of the
/// answer, never an error for the batch; each answer keeps the `InstrumentRef` it was asked for;
/// prices are exact decimals; no credential appears in an error.
public protocol LastPriceSource: Sendable {
    var broker: BrokerKind { get }
    /// The last traded price of each known instrument (`previousClose` nil).
    func lastPrices(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice]
    /// The last traded price of each known instrument with its previous close, where the broker has one.
    func quotes(_ instruments: [InstrumentRef], credentials: BrokerCredentials) async throws -> [LastPrice]
}

/// Finding the price source in an adapter (the four adapters and their wrappers are all sources).
public enum LastPriceSources {
    public static func required(_ adapter: any BrokerAdapter) throws(BrokerError) -> any LastPriceSource {
        guard let source = adapter as? any LastPriceSource else {
            throw .rejected(reason: "the \(adapter.broker.rawValue) adapter serves no quotes", code: "NO_QUOTES")
        }
        return source
    }
}

/// The most instruments each broker takes in one price request, and so how many requests a list
/// costs against the shared budget.
public enum QuoteBatches {
    /// Kite `/quote/ltp` and `/quote/ohlc`: 1,000; Upstox market quotes: 500; Alpaca's
    /// multi-symbol endpoints: kept to 100 symbols (the URL stays short); Binance's tickers: 100
    /// symbols (the 24-hour ticker's weight is 40 up to 100 symbols, 80 beyond).
    public static func size(_ broker: BrokerKind) -> Int {
        switch broker {
        case .kite: return 1000
        case .upstox: return 500
        case .alpaca, .binance: return 100
        }
    }

    /// How many requests pricing `count` distinct instruments takes.
    public static func requests(_ broker: BrokerKind, count: Int) -> Int {
        let size = size(broker)
        return max(1, (count + size - 1) / size)
    }

    /// `items` in consecutive batches of the broker's size.
    static func batches<T>(_ items: [T], _ broker: BrokerKind) -> [ArraySlice<T>] {
        stride(from: 0, to: items.count, by: size(broker)).map { items[$0..<min($0 + size(broker), items.count)] }
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func distinctInOrder() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
