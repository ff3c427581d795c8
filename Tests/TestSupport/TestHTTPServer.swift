import Foundation
import TMCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server on raw POSIX sockets for tests: it listens on 127.0.0.1 with an
/// OS-assigned port, serves each TCP connection on its own thread with keep-alive, and lets a test
/// script per request what happens — a response, a late response, silence (to provoke "timeout
/// after sending"), a dropped connection, or a truncated body.
///
/// Guarantees: only the loopback interface is ever bound; every request is recorded *before* its
/// behaviour runs, so a test can prove the server received a request the client gave up on;
/// `connectionsAccepted` counts TCP connections, so a test can prove keep-alive; `stop()` (also run
/// on deinit) closes the listener and every connection, wakes delayed or hanging handlers, and waits
/// (bounded) for the threads to end. Writes never raise SIGPIPE. Supports `Content-Length` request
/// bodies only (not chunked uploads).
public final class TestHTTPServer: @unchecked Sendable {
    /// One request as the server parsed it.
    public struct Request: Sendable {
        public let method: String
        /// The request target as sent: path plus query string.
        public let target: String
        public let version: String
        public let headers: [(name: String, value: String)]
        public let body: Data
        /// 1-based number of the TCP connection the request arrived on (in accept order).
        public let connection: Int

        /// The target without its query string.
        public var path: String { String(target.prefix { $0 != "?" }) }
        /// The raw query string (after `?`), if any.
        public var query: String? {
            guard let mark = target.firstIndex(of: "?") else { return nil }
            return String(target[target.index(after: mark)...])
        }
        /// The body as UTF-8 text (lossy).
        public var bodyText: String { String(decoding: body, as: UTF8.self) }

        /// The first value of a header, compared case-insensitively.
        public func header(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        /// Every value of a header, in order.
        public func headers(named name: String) -> [String] {
            headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
        }
    }

    /// What the server does with one request.
    public enum Behavior: Sendable {
        /// Responds at once. `Content-Length` is added unless given.
        case respond(status: Int, headers: [(String, String)] = [], body: Data = Data())
        /// Responds after the delay (woken early only by `stop()`).
        case respondAfter(Duration, status: Int, headers: [(String, String)] = [], body: Data = Data())
        /// Reads the request and never answers; the connection stays open until the client closes it or `stop()`.
        case hang
        /// Reads the request and closes the connection without a byte of response.
        case close
        /// Sends status and headers with `Content-Length: declaredLength`, then only `body`, then closes.
        case partial(status: Int, declaredLength: Int, body: Data)

        /// A text response.
        public static func text(_ status: Int, _ text: String, headers: [(String, String)] = []) -> Behavior {
            .respond(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers, body: Data(text.utf8))
        }

        /// A JSON response.
        public static func json(_ status: Int, _ json: String, headers: [(String, String)] = []) -> Behavior {
            .respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: Data(json.utf8))
        }
    }

    /// Thrown when the listening socket cannot be set up (the shared loopback plumbing's error).
    public typealias SocketError = LoopbackSocket.SocketError

    /// The port the server listens on, chosen by the OS.
    public let port: UInt16
    /// `http://127.0.0.1:<port>` — append a path.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private let route: @Sendable (Request) -> Behavior
    private let closeOnAccept: Bool
    private let listener: LoopbackListener
    /// Guards what follows and is signalled on each request and on stop.
    private let state = NSCondition()
    private var stopped = false
    private var recorded: [Request] = []

    /// Starts listening. With `closeOnAccept` every connection is closed as soon as it is accepted,
    /// before anything is read (the route is never called).
    public init(closeOnAccept: Bool = false, route: @escaping @Sendable (Request) -> Behavior) throws {
        self.route = route
        self.closeOnAccept = closeOnAccept
        var options = LoopbackListener.Options()
        options.backlog = 64
        options.connectionName = "test-http-conn-"
        listener = try LoopbackListener(options: options)
        port = listener.port
        // Its threads keep the server (as each connection's thread did before): it lives until `stop()`.
        listener.start { [self] fd, number in serve(fd: fd, connection: number) }
    }

    deinit {
        stop()
    }

    /// Every request received so far, in arrival order.
    public var requests: [Request] {
        state.lock(); defer { state.unlock() }
        return recorded
    }

    /// TCP connections accepted so far.
    public var connectionsAccepted: Int { listener.connectionsAccepted }

    /// Waits until at least `count` requests were received or `timeout` passed; returns whether they were.
    @discardableResult
    public func waitForRequests(_ count: Int, timeout: Duration = .seconds(5)) -> Bool {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        state.lock(); defer { state.unlock() }
        while recorded.count < count {
            if !state.wait(until: deadline) { return recorded.count >= count }
        }
        return true
    }

    /// Closes the listener and all connections, wakes waiting handlers, and waits up to 5 s for the
    /// server's threads to finish. Idempotent.
    public func stop() {
        state.lock()
        stopped = true
        state.broadcast()
        state.unlock()
        listener.stop()
    }

    /// A loopback port with nothing listening on it (bound, then released), for "connection refused".
    public static func unusedLoopbackPort() throws -> UInt16 {
        UInt16(try freeLoopbackPort())
    }

    // MARK: Implementation

    private func serve(fd: Int32, connection: Int) {
        if closeOnAccept { return }
        var buffer = [UInt8]()
        while let request = readRequest(fd: fd, buffer: &buffer, connection: connection) {
            state.lock()
            recorded.append(request)
            state.broadcast()
            state.unlock()

            let keepAlive = request.header("Connection")?.lowercased() != "close" && request.version == "HTTP/1.1"
            switch route(request) {
            case let .respond(status, headers, body):
                guard write(fd: fd, response(status, headers, body, request: request, keepAlive: keepAlive)) else { return }
            case let .respondAfter(delay, status, headers, body):
                guard sleepUnlessStopped(delay) else { return }
                guard write(fd: fd, response(status, headers, body, request: request, keepAlive: keepAlive)) else { return }
            case .hang:
                // Drain until the client gives up (EOF) or stop() shuts the socket down.
                var scratch = [UInt8](repeating: 0, count: 4096)
                while scratch.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
                return
            case .close:
                return
            case let .partial(status, declaredLength, body):
                let head = "HTTP/1.1 \(status) \(LoopbackSocket.reasonPhrase(status))\r\nContent-Length: \(declaredLength)\r\n\r\n"
                _ = write(fd: fd, Data(head.utf8) + body)
                return
            }
            if !keepAlive { return }
        }
    }

    /// Waits for `delay`; false if the server was stopped meanwhile.
    private func sleepUnlessStopped(_ delay: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(delay.seconds)
        state.lock(); defer { state.unlock() }
        while !stopped {
            if !state.wait(until: deadline) { return !stopped }
        }
        return false
    }

    private func response(_ status: Int, _ headers: [(String, String)], _ body: Data, request: Request, keepAlive: Bool) -> Data {
        var head = "HTTP/1.1 \(status) \(LoopbackSocket.reasonPhrase(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !headers.contains(where: { $0.0.caseInsensitiveCompare("Content-Length") == .orderedSame }) {
            head += "Content-Length: \(body.count)\r\n"
        }
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        return request.method == "HEAD" ? Data(head.utf8) : Data(head.utf8) + body
    }

    private func write(fd: Int32, _ data: Data) -> Bool { LoopbackSocket.sendAll(fd, data) }

    /// Reads one request (head + Content-Length body), keeping any bytes beyond it in `buffer` for
    /// the next one. Nil on EOF, error, or bytes that are not HTTP (e.g. a TLS ClientHello).
    private func readRequest(fd: Int32, buffer: inout [UInt8], connection: Int) -> Request? {
        let terminator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while true {
            if let first = buffer.first, !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) { return nil }
            if buffer.count >= 4 {
                headEnd = (0...(buffer.count - 4)).first { buffer[$0..<$0 + 4].elementsEqual(terminator) }
                if headEnd != nil { break }
            }
            if buffer.count > 1 << 20 || !receive(fd: fd, into: &buffer) { return nil }
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count == 3 else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        let length = headers.first { $0.name.caseInsensitiveCompare("Content-Length") == .orderedSame }
            .flatMap { Int($0.value) } ?? 0
        let bodyStart = headEnd! + 4
        while buffer.count < bodyStart + length {
            if !receive(fd: fd, into: &buffer) { return nil }
        }
        let body = Data(buffer[bodyStart..<bodyStart + length])
        buffer.removeFirst(bodyStart + length)
        return Request(method: String(requestLine[0]), target: String(requestLine[1]), version: String(requestLine[2]),
                       headers: headers, body: body, connection: connection)
    }

    private func receive(fd: Int32, into buffer: inout [UInt8]) -> Bool { LoopbackSocket.receive(fd, into: &buffer) }
}
