import Foundation
import TMBrokers
import TMHTTP
import TestSupport
import Testing

/// Credentials whose every part is distinctive, so a test can prove none of them leaks.
enum Secrets {
    static let apiKey = "KEY-zq81-apikey-marker"
    static let apiSecret = "SECRET-zq81-apisecret-marker"
    static let accessToken = "TOKEN-zq81-accesstoken-marker"
    static let all = [apiKey, apiSecret, accessToken]
    static let credentials = BrokerCredentials.plain(apiKey: apiKey, apiSecret: apiSecret, accessToken: accessToken)
}

/// A loopback server scripted by `route`, a client that never uses a proxy, and an adapter for
/// each broker pointed at the server under the simulator's prefixes (`/kite`, `/upstox`, ...).
final class BrokerHarness: @unchecked Sendable {
    let server: TestHTTPServer
    let http: AsyncHTTPClient
    let timeouts: BrokerTimeouts
    var endpoints: BrokerEndpoints { .simulator(port: Int(server.port)) }

    init(timeouts: BrokerTimeouts = BrokerTimeouts(connect: .seconds(2), total: .seconds(5)),
         route: @escaping @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Behavior) throws {
        server = try TestHTTPServer(route: route)
        self.timeouts = timeouts
        http = try AsyncHTTPClient(configuration: HTTPClient.Configuration(proxy: .none), lanes: 2, name: "broker-test")
    }

    deinit {
        http.shutdown()
        server.stop()
    }

    func adapter(_ kind: BrokerKind) -> any BrokerAdapter {
        BrokerAdapters.make(kind, endpoints: endpoints, http: http, timeouts: timeouts)
    }

    /// A Binance adapter whose clock is fixed, so its signatures are reproducible.
    func binance(at millis: Int64 = 1_499_827_319_559) -> BinanceAdapter {
        BinanceAdapter(baseURL: endpoints.binance, http: http, timeouts: timeouts,
                       clock: { Date(timeIntervalSince1970: TimeInterval(millis) / 1000) })
    }

    var lastRequest: TestHTTPServer.Request? { server.requests.last }
}

/// The error a broker call threw (nil if it succeeded; a non-`BrokerError` is a test failure).
func brokerError<T>(_ body: () async throws -> T) async -> BrokerError? {
    do {
        _ = try await body()
        return nil
    } catch let error as BrokerError {
        return error
    } catch {
        Issue.record("not a BrokerError: \(error)")
        return nil
    }
}

/// A `BrokerError` without its free text, for table-driven expectations.
enum ErrorShape: Equatable, CustomStringConvertible {
    case rejected(code: String?)
    case unauthorized
    case rateLimited(Duration?)
    case unavailable
    case unknownOutcome
    case invalidResponse
    case notFound

    init(_ error: BrokerError) {
        switch error {
        case .rejected(_, let code): self = .rejected(code: code)
        case .unauthorized: self = .unauthorized
        case .rateLimited(let after): self = .rateLimited(after)
        case .unavailable: self = .unavailable
        case .unknownOutcome: self = .unknownOutcome
        case .invalidResponse: self = .invalidResponse
        case .notFound: self = .notFound
        }
    }

    var description: String {
        switch self {
        case .rejected(let code): return "rejected(\(code ?? "nil"))"
        case .unauthorized: return "unauthorized"
        case .rateLimited(let after): return "rateLimited(\(after.map { "\($0)" } ?? "nil"))"
        case .unavailable: return "unavailable"
        case .unknownOutcome: return "unknownOutcome"
        case .invalidResponse: return "invalidResponse"
        case .notFound: return "notFound"
        }
    }
}

/// One row of an error table: what the broker answers, and what the adapter must make of it for a
/// placement (a change) and for a read.
struct ErrorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let status: Int
    let body: String
    var headers: [(String, String)] = []
    let placement: ErrorShape
    let read: ErrorShape
    /// Text the error's description must carry (the broker's own words).
    var mentions: String?

    var testDescription: String { name }
}

extension ErrorShape: @unchecked Sendable {}

/// Answers every request with the case's response.
func answering(_ errorCase: ErrorCase) -> @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Behavior {
    { _ in .respond(status: errorCase.status, headers: [("Content-Type", "application/json")] + errorCase.headers,
                    body: Data(errorCase.body.utf8)) }
}

/// Runs a placement and a read against a server answering with `errorCase`, checking both shapes,
/// the broker's words in the reason, and that no credential appears anywhere in the error.
func checkErrorCase(_ errorCase: ErrorCase, broker: BrokerKind, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let harness = try BrokerHarness(route: answering(errorCase))
    let adapter = broker == .binance ? harness.binance() : harness.adapter(broker)
    let placed = await brokerError { try await adapter.placeOrder(sampleOrder(for: broker), credentials: Secrets.credentials) }
    let read = await brokerError { try await adapter.orders(credentials: Secrets.credentials) }
    #expect(placed.map(ErrorShape.init) == errorCase.placement, "placement: \(placed.map { "\($0)" } ?? "no error")",
            sourceLocation: sourceLocation)
    #expect(read.map(ErrorShape.init) == errorCase.read, "read: \(read.map { "\($0)" } ?? "no error")", sourceLocation: sourceLocation)
    for error in [placed, read].compactMap({ $0 }) {
        if let mentions = errorCase.mentions {
            #expect(error.description.contains(mentions), "\(error) should mention '\(mentions)'", sourceLocation: sourceLocation)
        }
        expectNoSecret(in: error, sourceLocation: sourceLocation)
    }
}

func expectNoSecret(in error: BrokerError, sourceLocation: SourceLocation = #_sourceLocation) {
    let texts = [error.description, String(reflecting: error), "\(error)", error.localizedDescription]
    for secret in Secrets.all {
        for text in texts {
            #expect(!text.contains(secret), "a credential leaked into: \(text)", sourceLocation: sourceLocation)
        }
    }
}

/// A limit buy each broker accepts as input.
func sampleOrder(for broker: BrokerKind, clientOrderID: String? = nil) -> OrderRequest {
    let id = clientOrderID ?? ClientOrderID.derive(idempotencyKey: "order-1", for: broker)
    switch broker {
    case .kite:
        return OrderRequest(clientOrderID: id, symbol: "INFY", exchange: "NSE", side: .buy, quantity: 10, type: .limit,
                            limitPrice: Decimal(string: "1500.05")!, timeInForce: .day, product: "CNC")
    case .upstox:
        return OrderRequest(clientOrderID: id, symbol: "NSE_EQ|INE848E01016", exchange: "NSE", side: .buy, quantity: 10, type: .limit,
                            limitPrice: Decimal(string: "1500.05")!, timeInForce: .day, product: "D")
    case .alpaca:
        return OrderRequest(clientOrderID: id, symbol: "AAPL", side: .buy, quantity: Decimal(string: "1.5")!, type: .limit,
                            limitPrice: Decimal(string: "187.31")!, timeInForce: .day)
    case .binance:
        return OrderRequest(clientOrderID: id, symbol: "BTCUSDT", side: .buy, quantity: Decimal(string: "0.00123")!, type: .limit,
                            limitPrice: Decimal(string: "43123.45")!, timeInForce: .gtc)
    }
}

/// Form or query text as ordered pairs, percent-decoded.
func formPairs(_ text: String) -> [(String, String)] {
    text.split(separator: "&").map { pair in
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let decode = { (s: Substring) in s.removingPercentEncoding ?? String(s) }
        return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
    }
}

func formDictionary(_ text: String) -> [String: String] {
    Dictionary(formPairs(text), uniquingKeysWith: { _, last in last })
}

func decimal(_ text: String) -> Decimal { Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))! }

/// A UTC instant from its parts.
func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int, fraction: Double = 0) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    return date.addingTimeInterval(fraction)
}
