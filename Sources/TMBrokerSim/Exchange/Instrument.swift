import Foundation
import TMCore

/// A tradable instrument at one broker.
///
/// Guarantees: `lotSize` and `tickSize` are positive; `basePrice` is a multiple of `tickSize`, so
/// every price the process derives from it can be rounded onto the tick grid.
public struct Instrument: Sendable {
    public let broker: Broker
    /// The broker's own symbol: Kite `tradingsymbol`, Alpaca/Binance symbol; for Upstox the trading symbol.
    public let symbol: String
    /// NSE for the Indian brokers, NASDAQ/NYSE for Alpaca, empty for Binance.
    public let exchange: String
    public let lotSize: Decimal
    public let tickSize: Decimal
    public let basePrice: Decimal
    /// Upstox's instrument key, e.g. `NSE_EQ|INE009A01021`; Kite's numeric token as text otherwise.
    public let instrumentToken: String
    /// Binance base and quote assets (e.g. BTC, USDT); the currency otherwise.
    public let baseAsset: String
    public let quoteAsset: String

    public init(broker: Broker, symbol: String, exchange: String, lotSize: Decimal, tickSize: Decimal, basePrice: Decimal,
                instrumentToken: String, baseAsset: String, quoteAsset: String) {
        self.broker = broker
        self.symbol = symbol
        self.exchange = exchange
        self.lotSize = lotSize
        self.tickSize = tickSize
        self.basePrice = basePrice
        self.instrumentToken = instrumentToken
        self.baseAsset = baseAsset
        self.quoteAsset = quoteAsset
    }

    /// Alpaca's `asset_id`: a stable UUID-shaped id derived from the symbol.
    public var assetID: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in symbol.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let hex = Identifiers.hexDigits(hash)
        return Identifiers.uuidText(hex: hex + hex, version: "4", variant: "a")
    }
}

/// The instruments each broker lists in the simulator.
///
/// Guarantees: symbols are unique per broker; Upstox instruments are found by instrument key
/// (`NSE_EQ|INE009A01021`) as well as by trading symbol.
public struct InstrumentCatalog: Sendable {
    private let byBroker: [Broker: [String: Instrument]]

    public init(_ instruments: [Instrument]) {
        var map: [Broker: [String: Instrument]] = [:]
        for instrument in instruments {
            map[instrument.broker, default: [:]][instrument.symbol] = instrument
            if instrument.broker == .upstox { map[.upstox, default: [:]][instrument.instrumentToken] = instrument }
        }
        byBroker = map
    }

    public func instrument(_ broker: Broker, _ symbol: String) -> Instrument? { byBroker[broker]?[symbol] }

    /// Every instrument of a broker, once each, by symbol.
    public func instruments(_ broker: Broker) -> [Instrument] {
        var seen = Set<String>()
        return (byBroker[broker]?.values.sorted { $0.symbol < $1.symbol } ?? []).filter { seen.insert($0.symbol).inserted }
    }

    /// NSE equities (Kite and Upstox), US equities (Alpaca), crypto pairs (Binance).
    public static let standard: InstrumentCatalog = {
        func d(_ text: String) -> Decimal { DecimalText.parseLenient(text)! }
        var list: [Instrument] = []
        let nse: [(String, String, String, String)] = [
            ("INFY", "INE009A01021", "1500", "408065"),
            ("TCS", "INE467B01029", "3800", "2953217"),
            ("RELIANCE", "INE002A01018", "2900", "738561"),
            ("HDFCBANK", "INE040A01034", "1650", "341249"),
            ("SBIN", "INE062A01020", "780", "779521"),
        ]
        for (symbol, isin, price, kiteToken) in nse {
            list.append(Instrument(broker: .kite, symbol: symbol, exchange: "NSE", lotSize: 1, tickSize: d("0.05"), basePrice: d(price),
                                   instrumentToken: kiteToken, baseAsset: symbol, quoteAsset: "INR"))
            list.append(Instrument(broker: .upstox, symbol: symbol, exchange: "NSE", lotSize: 1, tickSize: d("0.05"), basePrice: d(price),
                                   instrumentToken: "NSE_EQ|\(isin)", baseAsset: symbol, quoteAsset: "INR"))
        }
        list.append(Instrument(broker: .kite, symbol: "NIFTY24DECFUT", exchange: "NFO", lotSize: 25, tickSize: d("0.05"), basePrice: d("24000"),
                               instrumentToken: "13238786", baseAsset: "NIFTY24DECFUT", quoteAsset: "INR"))
        let us: [(String, String, String)] = [("AAPL", "NASDAQ", "190"), ("MSFT", "NASDAQ", "420"), ("SPY", "NYSE", "560"), ("TSLA", "NASDAQ", "250")]
        for (symbol, exchange, price) in us {
            list.append(Instrument(broker: .alpaca, symbol: symbol, exchange: exchange, lotSize: 1, tickSize: d("0.01"), basePrice: d(price),
                                   instrumentToken: symbol, baseAsset: symbol, quoteAsset: "USD"))
        }
        let crypto: [(String, String, String, String, String)] = [
            ("BTCUSDT", "BTC", "0.00001", "0.01", "65000"), ("ETHUSDT", "ETH", "0.0001", "0.01", "3200"),
            ("BNBUSDT", "BNB", "0.001", "0.01", "580"),
        ]
        for (symbol, base, lot, tick, price) in crypto {
            list.append(Instrument(broker: .binance, symbol: symbol, exchange: "", lotSize: d(lot), tickSize: d(tick), basePrice: d(price),
                                   instrumentToken: symbol, baseAsset: base, quoteAsset: "USDT"))
        }
        return InstrumentCatalog(list)
    }()
}
