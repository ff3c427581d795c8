import Foundation
import TMHTTP
import TestSupport
import Testing

/// Remembers every address a guard was shown, and refuses (or allows) by a rule.
final class GuardProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var shown: [[UInt8]] = []
    let allows: @Sendable ([UInt8]) -> Bool

    init(allows: @escaping @Sendable ([UInt8]) -> Bool) { self.allows = allows }

    var seen: [[UInt8]] { lock.withLock { shown } }

    var connectionGuard: ConnectionGuard {
        ConnectionGuard { address in
            self.lock.withLock { self.shown.append(address) }
            return self.allows(address) ? nil : "not allowed here"
        }
    }
}

/// A request with a `ConnectionGuard` connects only where the guard allows, judged on the address
/// libcurl actually connects to (after its own look-up), on a reused connection too, and never
/// through a proxy; a refused one sends nothing.
@Suite(.timeLimit(.minutes(1))) struct ConnectionGuardTests {
    @Test func aRefusedAddressGetsNoConnectionAndTheErrorSaysNothingWasSent() throws {
        let server = try TestHTTPServer(route: echo)
        let probe = GuardProbe { _ in false }
        let client = try HTTPClient(configuration: testConfiguration)
        let error = failure { try client.send(HTTPRequest(.post, server.baseURL + "/hook?token=SECRETtoken", body: .json(Data("{}".utf8)),
                                                          connectionGuard: probe.connectionGuard)) }
        let refused = try #require(error)
        #expect(isNotSent(refused) && refused.kind == .addressRefused, "\(refused)")
        // Refused at the socket, before any connection (not on a connection libcurl opened anyway).
        #expect(refused.failure.message == "connection to 127.0.0.1 refused: not allowed here", "\(refused)")
        #expect(!refused.description.contains("SECRETtoken"))
        #expect(probe.seen == [[127, 0, 0, 1]])
        #expect(server.connectionsAccepted == 0 && server.requests.isEmpty)
    }

    @Test func anAllowedAddressIsConnectedToAsUsual() throws {
        let server = try TestHTTPServer(route: echo)
        let probe = GuardProbe { $0 == [127, 0, 0, 1] }
        let client = try HTTPClient(configuration: testConfiguration)
        let response = try client.send(HTTPRequest(.post, server.baseURL + "/hook", body: .json(Data("{\"a\":1}".utf8)),
                                                   connectionGuard: probe.connectionGuard))
        #expect(response.status == 200 && response.text == "{\"a\":1}")
        #expect(probe.seen.contains([127, 0, 0, 1]))
        #expect(server.requests.count == 1)
    }

    /// The guard sees the address libcurl reads from a numeric host spelling, whatever the spelling.
    @Test(arguments: ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001"])
    func numericSpellingsReachTheGuardAsTheAddressTheyName(_ host: String) throws {
        let server = try TestHTTPServer(route: echo)
        let probe = GuardProbe { _ in false }
        let client = try HTTPClient(configuration: testConfiguration)
        let error = try #require(failure { try client.send(HTTPRequest(.get, "http://\(host):\(server.port)/", connectionGuard: probe.connectionGuard)) })
        #expect(error.kind == .addressRefused, "\(error)")
        #expect(probe.seen == [[127, 0, 0, 1]])
        #expect(server.connectionsAccepted == 0)
    }

    /// A keep-alive connection opened by an unguarded request is not a way around the guard.
    @Test func aReusedConnectionIsCheckedByItsPeerBeforeTheRequestIsWritten() throws {
        let server = try TestHTTPServer(route: echo)
        let client = try HTTPClient(configuration: testConfiguration)
        #expect(try client.send(HTTPRequest(.get, server.baseURL + "/first")).status == 200)
        let probe = GuardProbe { _ in false }
        let error = try #require(failure { try client.send(HTTPRequest(.post, server.baseURL + "/second", body: .json(Data("{}".utf8)),
                                                                        connectionGuard: probe.connectionGuard)) })
        #expect(isNotSent(error) && error.kind == .addressRefused, "\(error)")
        #expect(error.failure.message == "kept-alive connection to 127.0.0.1 refused: not allowed here", "\(error)")
        #expect(server.requests.map(\.path) == ["/first"])
        // The same client still works for unguarded requests afterwards.
        #expect(try client.send(HTTPRequest(.get, server.baseURL + "/third")).status == 200)
    }

    /// A proxy would make the connection itself, out of the guard's sight: a guarded request goes direct.
    @Test func aGuardedRequestNeverGoesThroughAProxy() throws {
        let proxy = try TestHTTPServer { _ in .text(200, "from the proxy") }
        let server = try TestHTTPServer(route: echo)
        var configuration = testConfiguration
        configuration.proxy = .url(proxy.baseURL)
        let client = try HTTPClient(configuration: configuration)
        let probe = GuardProbe { _ in true }
        let response = try client.send(HTTPRequest(.post, server.baseURL + "/hook", body: .json(Data("{}".utf8)), connectionGuard: probe.connectionGuard))
        #expect(response.text == "{}")
        #expect(proxy.connectionsAccepted == 0 && server.requests.count == 1)
        // Unguarded, the configured proxy is used as before.
        #expect(try client.send(HTTPRequest(.get, server.baseURL + "/x")).text == "from the proxy")
    }
}
