/// The brokers the simulator speaks for; the raw value is the URL prefix and the admin API's name.
public enum Broker: String, Sendable, CaseIterable, Hashable {
    case kite, upstox, alpaca, binance
}
