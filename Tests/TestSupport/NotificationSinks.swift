import Foundation
import TMCore

/// An SMTP server for tests: `Tests/Sinks/smtp_sink.py` (Debian's python3-aiosmtpd) on a free
/// loopback port, keeping every accepted message as a file (duplicates stay visible).
public final class SMTPSink: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private let process: ChildProcess

    /// Starts the sink; with `username`/`password` it requires AUTH PLAIN/LOGIN.
    public init(username: String? = nil, password: String? = nil) throws {
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("smtp-sink"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [TestServers.repositoryRoot.appendingPathComponent("Tests/Sinks/smtp_sink.py").path, "--port", String(port), "--dir", directory.path]
        if let username, let password { arguments += ["--user", username, "--password", password] }
        // Debian's python3 (where python3-aiosmtpd is installed), not whatever python3 is first on PATH.
        process = try ChildProcess("/usr/bin/python3", arguments, captureOutput: true,
                                   logFile: directory.appendingPathComponent("sink.log").path)
        try process.waitForOutput("ready", timeout: .seconds(20))
    }

    deinit {
        process.terminate(grace: .seconds(5))
        try? FileManager.default.removeItem(at: directory)
    }

    /// `smtp://127.0.0.1:<port>`.
    public var url: String { "smtp://127.0.0.1:\(port)" }

    /// Every message accepted so far, oldest first (raw text; the first line is `X-Sink-Envelope-To`).
    public var messages: [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { try? String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8) }
    }

    /// Refuses the next `count` recipients with `code` (4xx: try later; 5xx: permanent).
    public func failNext(_ count: Int, code: Int = 451) throws {
        try String(code).write(to: directory.appendingPathComponent("fail_code"), atomically: true, encoding: .utf8)
        try String(count).write(to: directory.appendingPathComponent("fail"), atomically: true, encoding: .utf8)
    }
}

/// An HTTP receiver shaped like a provider (a webhook endpoint, Slack, Twilio, FCM) for tests: it
/// records every request (so a duplicate delivery is visible), can be told to fail the next N
/// requests, runs a check that may refuse a request (a webhook receiver verifying a signature),
/// and answers the rest with the provider's reply.
public final class ProviderSink: @unchecked Sendable {
    public typealias Request = TestHTTPServer.Request
    private struct State {
        var failures = 0
        var failStatus = 503
        var failBody = "unavailable"
        var accepted: [Request] = []
        var refused: [(Request, String)] = []
    }

    private let state = Locked(State())
    private var server: TestHTTPServer!

    /// `check` returns a (status, reason) to refuse a request, nil to accept it; `reply` answers an accepted one.
    public init(check: @escaping @Sendable (Request) -> (status: Int, reason: String)? = { _ in nil },
                reply: @escaping @Sendable (Request) -> (status: Int, body: String) = { _ in (200, "ok") }) throws {
        let state = self.state
        server = try TestHTTPServer { request in
            let failure = state.withLock { s -> (Int, String)? in
                guard s.failures > 0 else { return nil }
                s.failures -= 1
                return (s.failStatus, s.failBody)
            }
            if let failure { return .text(failure.0, failure.1) }
            if let refusal = check(request) {
                state.withLock { $0.refused.append((request, refusal.reason)) }
                return .text(refusal.status, refusal.reason)
            }
            state.withLock { $0.accepted.append(request) }
            let answer = reply(request)
            return .json(answer.status, answer.body)
        }
    }

    public var baseURL: String { server.baseURL }
    /// Every request received, failed and refused ones included.
    public var requests: [Request] { server.requests }
    /// The requests accepted (answered with the provider's reply).
    public var accepted: [Request] { state.withLock { $0.accepted } }
    /// The requests the check refused, with its reason.
    public var refusals: [String] { state.withLock { $0.refused.map(\.1) } }

    /// Fails the next `count` requests with `status` and `body` (`count` < 0: every request).
    public func failNext(_ count: Int, status: Int = 503, body: String = "unavailable") {
        state.withLock {
            $0.failures = count < 0 ? Int.max : count
            $0.failStatus = status
            $0.failBody = body
        }
    }

    public func stop() { server.stop() }
}
