import Foundation
import TMHTTP
import TestSupport
import Testing

/// What a client's kept libcurl handle does when libcurl refuses an option, and whether the
/// environment's proxy comes back after a guarded request. libcurl refuses any string option longer
/// than `CURL_MAX_INPUT_LENGTH` (8,000,000 bytes), so an over-long user agent or proxy URL is a real
/// refusal — the same path an older libcurl without `CURLOPT_PROTOCOLS_STR` would take.
@Suite(.timeLimit(.minutes(1))) struct HTTPRefusedOptionTests {
    static let overLong = String(repeating: "x", count: 8_000_001)

    /// A fixed option refused leaves the handle unconfigured: every request of that client is refused
    /// before sending — never one sent from a handle missing some of its fixed options.
    @Test func aRefusedFixedOptionFailsEveryRequestAndNoneIsSent() throws {
        let server = try TestHTTPServer(route: echo)
        defer { server.stop() }
        var configuration = testConfiguration
        configuration.userAgent = Self.overLong
        let client = try HTTPClient(configuration: configuration)
        for path in ["/first", "/second", "/third"] {
            let refused = try #require(failure { try client.send(HTTPRequest(.get, server.baseURL + path)) })
            #expect(isNotSent(refused) && refused.kind == .invalidRequest, "\(refused)")
        }
        #expect(server.requests.isEmpty)
        #expect(server.connectionsAccepted == 0)
    }

    /// A proxy option refused leaves no proxy mode noted: the next request sets its proxy again (and is
    /// refused again) instead of going out directly, past the proxy its configuration names.
    @Test func aRefusedProxyIsSetAgainAndNeverBypassed() throws {
        let direct = try TestHTTPServer(route: echo)
        defer { direct.stop() }
        var configuration = testConfiguration
        configuration.proxy = .url("http://127.0.0.1:1/" + Self.overLong)
        let client = try HTTPClient(configuration: configuration)
        for path in ["/first", "/second"] {
            let refused = try #require(failure { try client.send(HTTPRequest(.get, direct.baseURL + path)) })
            #expect(isNotSent(refused) && refused.kind == .invalidRequest, "\(refused)")
        }
        // A guarded request (never proxied) in between, then an unguarded one: still refused.
        let probe = GuardProbe { $0 == [127, 0, 0, 1] }
        #expect(try client.send(HTTPRequest(.get, direct.baseURL + "/guarded", connectionGuard: probe.connectionGuard)).status == 200)
        #expect(failure { try client.send(HTTPRequest(.get, direct.baseURL + "/after")) }.map(isNotSent) == true)
        #expect(direct.requests.map(\.path) == ["/guarded"])
    }

    static let ownProcess = ProcessInfo.processInfo.environment["TM_HTTP_TEST_OWN_PROCESS"] == "1"

    /// A client that takes its proxy from the environment (`http_proxy`) uses it again after a guarded
    /// request, which turned proxies off on the kept handle. Setting `http_proxy` would reach every
    /// other test's requests in this process, so the check runs in a process of its own: this test
    /// binary again, running only `inAProcessOfItsOwn`.
    @Test func theEnvironmentsProxyIsUsedAgainAfterAGuardedRequest() async throws {
        let (status, output) = try await runProcess(
            CommandLine.arguments[0],
            ["--testing-library", "swift-testing", "--filter", "HTTPRefusedOptionTests/inAProcessOfItsOwn"],
            environment: ProcessInfo.processInfo.environment.merging(["TM_HTTP_TEST_OWN_PROCESS": "1"]) { $1 })
        #expect(status == 0, "\(output)")
        // Passed, not skipped: the check really ran in the child.
        #expect(output.contains("inAProcessOfItsOwn() passed"), "\(output)")
    }

    @Test(.enabled(if: ownProcess, "run by theEnvironmentsProxyIsUsedAgainAfterAGuardedRequest in a process of its own"))
    func inAProcessOfItsOwn() throws {
        let proxy = try TestHTTPServer { request in .text(200, "proxied \(request.target)") }
        defer { proxy.stop() }
        let direct = try TestHTTPServer(route: echo)
        defer { direct.stop() }
        unsetenv("no_proxy")
        unsetenv("NO_PROXY")
        setenv("http_proxy", proxy.baseURL, 1)
        var configuration = testConfiguration
        configuration.proxy = .environment
        let client = try HTTPClient(configuration: configuration)
        let probe = GuardProbe { $0 == [127, 0, 0, 1] }

        #expect(try client.send(HTTPRequest(.get, "http://orders.invalid/a")).text == "proxied http://orders.invalid/a")
        let guarded = try client.send(HTTPRequest(.get, direct.baseURL + "/g", connectionGuard: probe.connectionGuard))
        #expect(guarded.status == 200 && guarded.header("X-Method") == "GET")
        #expect(try client.send(HTTPRequest(.get, "http://orders.invalid/b")).text == "proxied http://orders.invalid/b")
        #expect(proxy.requests.map(\.target) == ["http://orders.invalid/a", "http://orders.invalid/b"])
        #expect(direct.requests.map(\.path) == ["/g"])
    }
}
