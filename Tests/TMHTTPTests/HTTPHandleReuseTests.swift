import Foundation
import TMHTTP
import TestSupport
import Testing

/// A client keeps its libcurl handle configured between requests (no `curl_easy_reset`): each of these
/// sends one request with an option set, then one without it on the same client, and checks that the
/// option did not carry over — the method, the body, the headers, the time limit, the proxy and the
/// guard's socket check.
@Suite(.timeLimit(.minutes(1))) struct HTTPHandleReuseTests {
    @Test func aPostsBodyAndContentTypeDoNotReachTheNextGet() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let post = try client.send(HTTPRequest(.post, server.baseURL + "/p", body: .json(Data(#"{"qty":"1.5"}"#.utf8))))
        #expect(post.text == #"{"qty":"1.5"}"#)
        let get = try client.send(HTTPRequest(.get, server.baseURL + "/g"))
        #expect(get.status == 200 && get.header("X-Method") == "GET")
        let received = server.requests
        #expect(received.map(\.method) == ["POST", "GET"])
        #expect(received[1].body.isEmpty)
        #expect(received[1].header("Content-Length") == nil)
        #expect(received[1].header("Content-Type") == nil)
    }

    @Test func aHeadDoesNotDropTheNextResponsesBody() throws {
        let server = try TestHTTPServer { request in .text(200, "body of \(request.method)") }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let head = try client.send(HTTPRequest(.head, server.baseURL + "/h"))
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(try client.send(HTTPRequest(.get, server.baseURL + "/g")).text == "body of GET")
        #expect(try client.send(HTTPRequest(.head, server.baseURL + "/h")).body.isEmpty)
        #expect(try client.send(HTTPRequest(.post, server.baseURL + "/p", body: .json(Data("{}".utf8)))).text == "body of POST")
        #expect(try client.send(HTTPRequest(.head, server.baseURL + "/h")).body.isEmpty)
        #expect(try client.send(HTTPRequest(.delete, server.baseURL + "/d")).text == "body of DELETE")
        #expect(server.requests.map(\.method) == ["HEAD", "GET", "HEAD", "POST", "HEAD", "DELETE"])
    }

    @Test func aCustomMethodIsNotKeptForTheNextRequest() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        let sequence: [(HTTPMethod, HTTPRequest.Body)] = [
            (.delete, .none), (.get, .none), (.put, .json(Data("{}".utf8))), (.post, .json(Data("{}".utf8))),
            (.delete, .json(Data(#"{"why":"x"}"#.utf8))), (.get, .none), (.patch, .none), (.post, .none), (.head, .none), (.get, .none),
        ]
        for (method, body) in sequence {
            let response = try client.send(HTTPRequest(method, server.baseURL + "/m", body: body))
            #expect(response.header("X-Method") == method.rawValue)
        }
        #expect(server.requests.map(\.method) == sequence.map(\.0.rawValue))
        // Each body goes with its own request only.
        #expect(server.requests.map(\.bodyText) == ["", "", "{}", "{}", #"{"why":"x"}"#, "", "", "", "", ""])
    }

    /// A bodiless DELETE after a POST (a cancel after a placement) goes without the POST's body,
    /// length or type: the handle is put back to GET before CUSTOMREQUEST renames it.
    @Test func aBodilessDeleteAfterAPostCarriesNoBody() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        _ = try client.send(HTTPRequest(.post, server.baseURL + "/orders", body: .json(Data(#"{"account":"A","qty":"1.5"}"#.utf8))))
        let cancel = try client.send(HTTPRequest(.delete, server.baseURL + "/orders/1"))
        #expect(cancel.header("X-Method") == "DELETE")
        let received = server.requests
        #expect(received.map(\.method) == ["POST", "DELETE"])
        #expect(received[1].bodyText == "", "DELETE carried: \(received[1].bodyText)")
        #expect(received[1].header("Content-Length") == nil, "DELETE Content-Length: \(received[1].header("Content-Length") ?? "")")
        #expect(received[1].header("Content-Type") == nil, "DELETE Content-Type: \(received[1].header("Content-Type") ?? "")")
    }

    /// Following a GET's redirect is not kept for the next request: a POST answered 307 comes back
    /// as 307, never re-sent elsewhere.
    @Test func aGetsRedirectFollowingIsNotKeptForTheNextPost() throws {
        let server = try TestHTTPServer { request in
            switch request.path {
            case "/old": return .respond(status: 302, headers: [("Location", "/new")])
            case "/orders": return .respond(status: 307, headers: [("Location", "/elsewhere")])
            default: return .text(200, "at \(request.path)")
            }
        }
        defer { server.stop() }
        var following = testConfiguration
        following.maxRedirects = 3
        let client = try HTTPClient(configuration: following)
        #expect(try client.send(HTTPRequest(.get, server.baseURL + "/old")).text == "at /new")
        let post = try client.send(HTTPRequest(.post, server.baseURL + "/orders", body: .json(Data(#"{"qty":"1"}"#.utf8))))
        #expect(post.status == 307)
        #expect(server.requests.map { "\($0.method) \($0.path)" } == ["GET /old", "GET /new", "POST /orders"])
    }

    @Test func oneRequestsHeadersAreNotSentWithTheNext() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)
        _ = try client.send(HTTPRequest(.get, server.baseURL + "/1", headers: [("X-Signature", "abc"), ("X-Only-First", "1")]))
        _ = try client.send(HTTPRequest(.get, server.baseURL + "/2", headers: [("X-Signature", "def")]))
        _ = try client.send(HTTPRequest(.get, server.baseURL + "/3"))
        let received = server.requests
        #expect(received[0].headers(named: "X-Signature") == ["abc"] && received[0].header("X-Only-First") == "1")
        #expect(received[1].headers(named: "X-Signature") == ["def"] && received[1].header("X-Only-First") == nil)
        #expect(received[2].header("X-Signature") == nil && received[2].header("X-Only-First") == nil)
        // The options set once still apply to every request.
        #expect(received.allSatisfy { $0.header("User-Agent") == testConfiguration.userAgent })
    }

    @Test func aRequestsTimeLimitIsNotKeptForTheNext() throws {
        let server = try TestHTTPServer { request in
            request.path == "/slow" ? .respondAfter(.milliseconds(800), status: 200, body: Data("late".utf8)) : .text(200, "now")
        }
        defer { server.stop() }
        let client = try HTTPClient(configuration: testConfiguration)  // 5 s by default
        let timedOut = try #require(failure { try client.send(HTTPRequest(.get, server.baseURL + "/slow", timeout: .milliseconds(100))) })
        #expect(timedOut.kind == .timeout, "\(timedOut)")
        #expect(try client.send(HTTPRequest(.get, server.baseURL + "/slow")).text == "late")
    }

    @Test func aGuardedRequestsProxyAndSocketCheckAreNotKept() throws {
        let proxy = try TestHTTPServer { request in .text(200, "proxied \(request.target)") }
        defer { proxy.stop() }
        let direct = try TestHTTPServer(route: echo)
        defer { direct.stop() }
        var configuration = testConfiguration
        configuration.proxy = .url(proxy.baseURL)
        let client = try HTTPClient(configuration: configuration)
        let allowLoopback = GuardProbe { $0 == [127, 0, 0, 1] }
        let refuseAll = GuardProbe { _ in false }

        #expect(try client.send(HTTPRequest(.get, "http://orders.invalid/a")).text == "proxied http://orders.invalid/a")
        // A guarded request never goes through the proxy...
        let guarded = try client.send(HTTPRequest(.get, direct.baseURL + "/g", connectionGuard: allowLoopback.connectionGuard))
        #expect(guarded.status == 200 && guarded.header("X-Method") == "GET")
        // ...and the next unguarded one does again.
        #expect(try client.send(HTTPRequest(.get, "http://orders.invalid/b")).text == "proxied http://orders.invalid/b")
        #expect(proxy.requests.map(\.target) == ["http://orders.invalid/a", "http://orders.invalid/b"])
        #expect(direct.requests.count == 1)

        // A refusing guard's socket check stays with its request: a fresh connection for an unguarded
        // request afterwards is opened by libcurl as usual.
        let other = try TestHTTPServer(route: echo)
        defer { other.stop() }
        let refused = try #require(failure {
            try client.send(HTTPRequest(.get, other.baseURL + "/r", connectionGuard: refuseAll.connectionGuard))
        })
        #expect(refused.kind == .addressRefused)
        var unproxied = testConfiguration
        unproxied.proxy = .none
        let plain = try HTTPClient(configuration: unproxied)
        _ = try #require(failure { try plain.send(HTTPRequest(.get, other.baseURL + "/r", connectionGuard: refuseAll.connectionGuard)) })
        #expect(try plain.send(HTTPRequest(.get, other.baseURL + "/after")).header("X-Method") == "GET")
        #expect(other.requests.map(\.path) == ["/after"])
    }
}
