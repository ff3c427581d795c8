import Foundation
import TMHTTP
import TestSupport
import Testing

/// Loopback only, no proxy from the environment, and short limits so every test is bounded.
let testConfiguration = HTTPClient.Configuration(timeout: .seconds(5), connectTimeout: .seconds(2), proxy: .none)

/// The `HTTPClientError` a failing `send` threw, or nil if it succeeded (any other error is a test failure).
func failure(_ body: () throws -> HTTPResponse) -> HTTPClientError? {
    do {
        _ = try body()
        return nil
    } catch let error as HTTPClientError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

func isNotSent(_ error: HTTPClientError) -> Bool {
    if case .notSent = error { return true }
    return false
}

func isOutcomeUnknown(_ error: HTTPClientError) -> Bool {
    if case .outcomeUnknown = error { return true }
    return false
}

/// Echoes the request: its body back with its content type, and its method as a header.
let echo: @Sendable (TestHTTPServer.Request) -> TestHTTPServer.Behavior = { request in
    .respond(status: 200, headers: [("Content-Type", request.header("Content-Type") ?? "application/octet-stream"),
                                    ("X-Method", request.method)], body: request.body)
}

/// Remembers which keys it was asked about, for routes that misbehave only the first time.
final class FirstSeen: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: Set<String> = []

    func isFirst(_ key: String) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return seen.insert(key).inserted
    }
}

@Suite(.timeLimit(.minutes(1)))
struct ResponseTests {
    @Test func statusCodesAreResponsesNotErrors() throws {
        let server = try TestHTTPServer { request in
            switch request.path {
            case "/ok": return .text(200, "fine")
            case "/limited": return .json(429, #"{"error":"slow down"}"#, headers: [("Retry-After", "7")])
            case "/boom": return .text(500, "broken")
            default: return .text(404, "no such thing")
            }
        }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)

        let ok = try client.send(HTTPRequest(.get, server.baseURL + "/ok"))
        #expect(ok.status == 200)
        #expect(ok.isSuccess)
        #expect(ok.text == "fine")

        let missing = try client.send(HTTPRequest(.get, server.baseURL + "/nope"))
        #expect(missing.status == 404)
        #expect(!missing.isSuccess)
        #expect(missing.text == "no such thing")

        let limited = try client.send(HTTPRequest(.get, server.baseURL + "/limited"))
        #expect(limited.status == 429)
        #expect(limited.header("retry-after") == "7")
        #expect(limited.header("RETRY-AFTER") == "7")

        let boom = try client.send(HTTPRequest(.post, server.baseURL + "/boom"))
        #expect(boom.status == 500)
        #expect(boom.text == "broken")
        #expect(boom.metrics.total > .zero)
    }

    @Test func headersAreCaseInsensitiveAndKeepEveryValue() throws {
        let server = try TestHTTPServer { _ in
            .respond(status: 200, headers: [("Set-Cookie", "a=1"), ("X-Custom", "value"), ("set-cookie", "b=2")])
        }
        defer { server.stop() }
        let response = try HTTPClient(configuration: testConfiguration).send(HTTPRequest(.get, server.baseURL + "/"))
        #expect(response.header("x-custom") == "value")
        #expect(response.header("X-CUSTOM") == "value")
        #expect(response.headers(named: "SET-COOKIE") == ["a=1", "b=2"])
        #expect(response.header("absent") == nil)
        #expect(response.headers.map(\.name).filter { $0.lowercased() == "set-cookie" }.count == 2)
    }

    @Test func jsonRoundTrip() throws {
        struct Order: Codable, Equatable {
            var symbol: String
            var quantity: Int
            var clientOrderId: String
        }
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let order = Order(symbol: "RELIANCE", quantity: 5, clientOrderId: "tm-abc/1 é")
        let response = try HTTPClient(configuration: testConfiguration)
            .send(HTTPRequest(.post, server.baseURL + "/orders", body: try .json(encoding: order)))
        #expect(response.status == 200)
        #expect(try response.decodeJSON(Order.self) == order)
        let received = try #require(server.requests.first)
        #expect(received.header("content-type") == "application/json")
        #expect(received.method == "POST")
    }

    @Test func binaryBodiesArriveByteForByte() throws {
        let bytes = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let response = try HTTPClient(configuration: testConfiguration)
            .send(HTTPRequest(.put, server.baseURL + "/blob", body: .raw(bytes, contentType: "application/octet-stream")))
        #expect(response.body == bytes)
        #expect(response.header("X-Method") == "PUT")
        #expect(server.requests.first?.body == bytes)
    }

    @Test func bodyOverTheLimitIsAnErrorThatMayHaveReachedTheServer() throws {
        let server = try TestHTTPServer { _ in .respond(status: 200, body: Data(repeating: 65, count: 1000)) }
        defer { server.stop() }
        var configuration = testConfiguration
        configuration.maxResponseBytes = 100
        let error = try #require(failure { try HTTPClient(configuration: configuration).send(HTTPRequest(.get, server.baseURL + "/")) })
        #expect(isOutcomeUnknown(error))
        #expect(error.kind == .responseTooLarge)
    }

    @Test func redirectsAreNotFollowedByDefault() throws {
        let server = try TestHTTPServer { request in
            request.path == "/old" ? .respond(status: 302, headers: [("Location", "/new")]) : .text(200, "new")
        }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        #expect(client.configuration.maxRedirects == 0)
        let response = try client.send(HTTPRequest(.post, server.baseURL + "/old", body: .form([("a", "1")])))
        #expect(response.status == 302)
        #expect(response.header("location") == "/new")
        #expect(server.requests.count == 1)

        var following = testConfiguration
        following.maxRedirects = 3
        let redirected = try HTTPClient(configuration: following).send(HTTPRequest(.get, server.baseURL + "/old"))
        #expect(redirected.status == 200)
        #expect(redirected.text == "new")
        #expect(redirected.header("location") == nil)  // headers of the final response only
    }
}

@Suite(.timeLimit(.minutes(1)))
struct RequestTests {
    @Test func requestHeadersArrive() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        var configuration = testConfiguration
        configuration.userAgent = "tm-test/9"
        configuration.defaultHeaders = [("Accept", "application/json")]
        let request = HTTPRequest(.get, server.baseURL + "/h", headers: [
            ("Authorization", "Bearer token-123"), ("X-Trace", "one"), ("X-Trace", "two"), ("X-Empty", ""),
        ])
        _ = try HTTPClient(configuration: configuration).send(request)
        let received = try #require(server.requests.first)
        #expect(received.header("authorization") == "Bearer token-123")
        #expect(received.headers(named: "x-trace") == ["one", "two"])
        #expect(received.header("X-Empty") == "")
        #expect(received.header("User-Agent") == "tm-test/9")
        #expect(received.header("Accept") == "application/json")
        #expect(received.header("Expect") == nil)
    }

    @Test func formBodyIsPercentEncoded() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let body = HTTPRequest.Body.form([("a", "1"), ("b", "x y"), ("c", "&"), ("d", "é+="), ("e f", "~-._")])
        _ = try HTTPClient(configuration: testConfiguration).send(HTTPRequest(.post, server.baseURL + "/form", body: body))
        let received = try #require(server.requests.first)
        #expect(received.bodyText == "a=1&b=x%20y&c=%26&d=%C3%A9%2B%3D&e%20f=~-._")
        #expect(received.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(received.header("Content-Length") == String(received.body.count))
    }

    @Test func explicitContentTypeWins() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let request = HTTPRequest(.post, server.baseURL + "/", headers: [("Content-Type", "application/json; charset=utf-8")],
                                  body: .json(Data("{}".utf8)))
        _ = try HTTPClient(configuration: testConfiguration).send(request)
        #expect(server.requests.first?.headers(named: "content-type") == ["application/json; charset=utf-8"])
    }

    @Test func queryHelperEncodesValues() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let url = HTTPRequest.url(server.baseURL + "/api/v3/order", query: [("symbol", "BTC USDT"), ("note", "a&b=c"), ("x", "é")])
        _ = try HTTPClient(configuration: testConfiguration).send(HTTPRequest(.get, url))
        let received = try #require(server.requests.first)
        #expect(received.path == "/api/v3/order")
        #expect(received.query == "symbol=BTC%20USDT&note=a%26b%3Dc&x=%C3%A9")
        #expect(HTTPRequest.url("http://h/p?a=1", query: [("b", "2")]) == "http://h/p?a=1&b=2")
        #expect(HTTPRequest.url("http://h/p", query: []) == "http://h/p")
    }

    @Test func everyMethodIsSentAsItself() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        for method in HTTPMethod.allCases {
            let response = try client.send(HTTPRequest(method, server.baseURL + "/m"))
            #expect(response.status == 200)
        }
        let received = server.requests
        #expect(received.map(\.method) == HTTPMethod.allCases.map(\.rawValue))
        // Methods that normally carry a body say it is empty rather than leaving the length open.
        for request in received where ["POST", "PUT", "PATCH"].contains(request.method) {
            #expect(request.header("Content-Length") == "0")
        }
        let delete = try client.send(HTTPRequest(.delete, server.baseURL + "/orders/1", body: .json(Data(#"{"why":"x"}"#.utf8))))
        #expect(delete.header("X-Method") == "DELETE")
        #expect(delete.text == #"{"why":"x"}"#)
    }

    @Test func invalidRequestsAreRejectedBeforeSending() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let injected = try #require(failure {
            try client.send(HTTPRequest(.get, server.baseURL + "/", headers: [("X-A", "1\r\nX-Injected: 2")]))
        })
        #expect(isNotSent(injected))
        #expect(injected.kind == .invalidRequest)
        let badScheme = try #require(failure { try client.send(HTTPRequest(.get, "ftp://127.0.0.1/x")) })
        #expect(isNotSent(badScheme))
        #expect(!badScheme.mayHaveReachedServer)
        #expect(server.connectionsAccepted == 0)
    }
}

@Suite(.timeLimit(.minutes(1)))
struct ConnectionTests {
    @Test func keepAliveReusesOneConnection() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let first = try client.send(HTTPRequest(.get, server.baseURL + "/1"))
        let second = try client.send(HTTPRequest(.post, server.baseURL + "/2", body: .form([("a", "b")])))
        let third = try client.send(HTTPRequest(.get, server.baseURL + "/3"))
        #expect(first.metrics.newConnections == 1)
        #expect(second.metrics.reusedConnection)
        #expect(third.metrics.reusedConnection)
        #expect(server.connectionsAccepted == 1)
        #expect(server.requests.map(\.connection) == [1, 1, 1])
    }

    @Test func timeoutAfterSendingMayHaveReachedTheServer() throws {
        let server = try TestHTTPServer { _ in .hang }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let started = ContinuousClock.now
        let error = try #require(failure {
            try client.send(HTTPRequest(.post, server.baseURL + "/orders", body: .form([("qty", "1")]), timeout: .milliseconds(300)))
        })
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(isOutcomeUnknown(error))
        #expect(error.mayHaveReachedServer)
        #expect(error.kind == .timeout)
        #expect(error.curlCode == 28)
        #expect(server.waitForRequests(1))
        #expect(server.requests.first?.bodyText == "qty=1")
    }

    @Test func connectionClosedWithoutResponseMayHaveReachedTheServer() throws {
        let server = try TestHTTPServer { request in
            request.path == "/partial" ? .partial(status: 200, declaredLength: 100, body: Data("short".utf8)) : .close
        }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let closed = try #require(failure { try client.send(HTTPRequest(.post, server.baseURL + "/close", body: .json(Data("{}".utf8)))) })
        #expect(isOutcomeUnknown(closed))
        #expect(closed.kind == .connectionLost)
        let partial = try #require(failure { try client.send(HTTPRequest(.get, server.baseURL + "/partial")) })
        #expect(isOutcomeUnknown(partial))
        #expect(partial.mayHaveReachedServer)
        #expect(server.requests.map(\.path) == ["/close", "/partial"])
    }

    @Test func postIsNeverResentSilentlyWhenAKeptAliveConnectionDies() throws {
        // The second request on the first connection is read, then the connection drops unanswered:
        // the server may have acted on it. libcurl on its own would re-send it on a new connection.
        let firstSeen = FirstSeen()
        let server = try TestHTTPServer { request in
            request.path != "/warm" && firstSeen.isFirst(request.path) ? .close : .text(200, "ok")
        }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        _ = try client.send(HTTPRequest(.get, server.baseURL + "/warm"))
        let error = try #require(failure { try client.send(HTTPRequest(.post, server.baseURL + "/orders", body: .form([("q", "1")]))) })
        #expect(isOutcomeUnknown(error))
        #expect(error.kind == .connectionLost)
        #expect(server.requests.filter { $0.path == "/orders" }.count == 1)

        // An idempotent GET may be retried transparently on a fresh connection.
        _ = try client.send(HTTPRequest(.get, server.baseURL + "/warm"))
        let retried = try client.send(HTTPRequest(.get, server.baseURL + "/positions"))
        #expect(retried.status == 200)
        #expect(server.requests.filter { $0.path == "/positions" }.count == 2)
    }

    @Test func connectionDroppedOnAcceptIsNeverCalledSafe() throws {
        let server = try TestHTTPServer(closeOnAccept: true) { _ in .text(200, "unreachable") }
        defer { server.stop() }
        let error = try #require(failure {
            try HTTPClient(configuration: testConfiguration).send(HTTPRequest(.post, server.baseURL + "/orders", body: .form([("q", "1")])))
        })
        // The TCP connection was up, so the bytes may have left: only the server knows.
        #expect(error.mayHaveReachedServer)
        #expect(server.connectionsAccepted >= 1)
    }

    @Test func refusedConnectionIsNotSent() throws {
        let port = try TestHTTPServer.unusedLoopbackPort()
        let error = try #require(failure {
            try HTTPClient(configuration: testConfiguration).send(HTTPRequest(.post, "http://127.0.0.1:\(port)/orders", body: .form([("q", "1")])))
        })
        #expect(isNotSent(error))
        #expect(!error.mayHaveReachedServer)
        #expect(error.kind == .connectFailed)
        #expect(error.curlCode == 7)
    }

    @Test func unresolvableHostIsNotSent() throws {
        let error = try #require(failure {
            try HTTPClient(configuration: testConfiguration).send(HTTPRequest(.post, "http://nonexistent.invalid/orders", timeout: .seconds(5)))
        })
        #expect(isNotSent(error))
        #expect(!error.mayHaveReachedServer)
        // Resolution fails outright, or (without a reachable resolver) runs out of connect time.
        #expect(error.kind == .dnsFailure || error.kind == .timeout)
    }

    @Test func tlsVerificationIsOnByDefaultAndHandshakeFailureIsNotSent() throws {
        #expect(HTTPClient.Configuration().verifyTLS)
        #expect(HTTPClient.Configuration().maxRedirects == 0)
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        #expect(client.configuration.verifyTLS)
        let error = try #require(failure {
            try client.send(HTTPRequest(.post, "https://127.0.0.1:\(server.port)/orders", body: .form([("q", "1")])))
        })
        #expect(isNotSent(error))
        #expect(error.kind == .tlsFailure)
        #expect(server.requests.isEmpty)
    }

    @Test func perRequestTimeoutOverridesTheDefault() throws {
        let server = try TestHTTPServer { _ in .respondAfter(.milliseconds(1500), status: 200, body: Data("late".utf8)) }
        defer { server.stop() }

        var short = testConfiguration
        short.timeout = .milliseconds(200)
        let shortClient = try HTTPClient(configuration: short)
        let defaulted = try #require(failure { try shortClient.send(HTTPRequest(.get, server.baseURL + "/")) })
        #expect(defaulted.kind == .timeout)
        let longer = try shortClient.send(HTTPRequest(.get, server.baseURL + "/", timeout: .seconds(5)))
        #expect(longer.text == "late")

        // With the 5 s default the 1.5 s response would arrive: a timeout proves the 200 ms override
        // applied (an outcome, not a stopwatch a loaded machine could stretch).
        let longClient = try HTTPClient(configuration: testConfiguration)
        let shorter = try #require(failure { try longClient.send(HTTPRequest(.get, server.baseURL + "/", timeout: .milliseconds(200))) })
        #expect(shorter.kind == .timeout)
    }

    @Test func errorDescriptionsHideSecrets() throws {
        let server = try TestHTTPServer { _ in .hang }
        defer { server.stop() }
        let request = HTTPRequest(.post, "http://user:pw-secret@127.0.0.1:\(server.port)/orders?signature=SIG-secret",
                                  headers: [("Authorization", "Bearer TOKEN-secret")],
                                  body: .form([("pin", "BODY-secret")]), timeout: .milliseconds(200))
        let error = try #require(failure { try HTTPClient(configuration: testConfiguration).send(request) })
        for text in [String(describing: error), request.description] {
            #expect(!text.contains("secret"), "leaked: \(text)")
            #expect(text.contains("/orders"))
        }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct AsyncClientTests {
    @Test func concurrentTasksAllGetTheirOwnResponse() async throws {
        let server = try TestHTTPServer { request in
            .respondAfter(.milliseconds(20), status: 200, body: Data(request.path.utf8))
        }
        defer { server.stop() }
        let client = try AsyncHTTPClient(configuration: testConfiguration, lanes: 3)
        defer { client.shutdown() }
        let bodies = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for i in 0..<24 {
                group.addTask {
                    let response = try await client.send(HTTPRequest(.get, server.baseURL + "/item/\(i)"))
                    return (i, response.text)
                }
            }
            var result: [Int: String?] = [:]
            for try await (i, text) in group { result[i] = text }
            return result
        }
        #expect(bodies.count == 24)
        for (i, text) in bodies { #expect(text == "/item/\(i)") }
        // Each lane keeps its connection alive.
        #expect(server.connectionsAccepted <= 3)
    }

    @Test func asyncErrorsKeepTheirClassification() async throws {
        let port = try TestHTTPServer.unusedLoopbackPort()
        let client = try AsyncHTTPClient(configuration: testConfiguration)
        do {
            _ = try await client.send(HTTPRequest(.get, "http://127.0.0.1:\(port)/"))
            Issue.record("expected a failure")
        } catch {
            #expect(isNotSent(error))
        }
        client.shutdown()
        do {
            _ = try await client.send(HTTPRequest(.get, "http://127.0.0.1:\(port)/"))
            Issue.record("expected a failure after shutdown")
        } catch {
            #expect(isNotSent(error))
            #expect(error.failure.message.contains("shut down"))
        }
    }
}
