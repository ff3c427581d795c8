import Foundation
import TMHTTP

/// Makes the adapter for a broker kind; the one place that knows which type serves which broker.
///
/// Guarantees: every adapter made here sends through the given client with `timeouts` on every
/// request, so one `AsyncHTTPClient` (and its kept-alive connections) can serve all brokers.
public enum BrokerAdapters {
    public static func make(_ kind: BrokerKind, endpoints: BrokerEndpoints, http: AsyncHTTPClient,
                            timeouts: BrokerTimeouts = BrokerTimeouts()) -> any BrokerAdapter {
        let transport = BrokerTransport(http: http, timeouts: timeouts)
        switch kind {
        case .kite: return KiteAdapter(baseURL: endpoints.kite, transport: transport)
        case .upstox: return UpstoxAdapter(baseURL: endpoints.upstox, orderBaseURL: endpoints.upstoxOrders, transport: transport)
        case .alpaca: return AlpacaAdapter(baseURL: endpoints.alpaca, dataBaseURL: endpoints.alpacaData, transport: transport)
        case .binance: return BinanceAdapter(baseURL: endpoints.binance, transport: transport)
        }
    }

    /// An HTTP client suited to broker calls: the timeouts as its defaults, `lanes` requests in parallel.
    public static func makeHTTPClient(timeouts: BrokerTimeouts = BrokerTimeouts(), lanes: Int = 4,
                                      proxy: HTTPClient.Configuration.Proxy = .environment) throws(HTTPClientError) -> AsyncHTTPClient {
        let configuration = HTTPClient.Configuration(userAgent: "tm-brokers/1.0", timeout: timeouts.total,
                                                     connectTimeout: timeouts.connect, proxy: proxy)
        return try AsyncHTTPClient(configuration: configuration, lanes: lanes, name: "brokers")
    }
}
