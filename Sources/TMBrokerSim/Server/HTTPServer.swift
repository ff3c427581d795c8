import Foundation
import TMCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server on POSIX sockets, bound to 127.0.0.1 only.
///
/// Each TCP connection is served by its own thread, with keep-alive (libcurl reuses connections),
/// so a handler may block (injected latency, hangs) without holding up other clients.
///
/// Guarantees: only loopback is ever bound; request bodies are read by `Content-Length` (chunked
/// uploads are answered 411 and the connection closed); a handler returning nil closes the
/// connection without a byte of response (the "response lost" fault); idle connections are closed
/// after `idleTimeout`; writes never raise SIGPIPE; `stop()` closes the listener and every
/// connection, fires `stopSignal` so sleeping handlers wake, and waits (bounded) for the threads.
public final class HTTPServer: @unchecked Sendable {
    /// Answers one request; nil drops the connection without responding.
    public typealias Handler = @Sendable (HTTPServerRequest) -> HTTPServerResponse?

    /// Thrown when the listening socket cannot be set up.
    /// A socket call failed (the shared loopback plumbing's error).
    public typealias SocketError = LoopbackSocket.SocketError

    /// The port bound (the OS's choice when 0 was asked for).
    public let port: UInt16
    /// Fired by `stop()`; handlers sleep on it.
    public let stopSignal: StopSignal

    private let handler: Handler
    private let maxRequestBytes = 8 << 20
    private static let maxHeadBytes = 64 * 1024
    private let listener: LoopbackListener

    /// Binds 127.0.0.1:`port` (0 = any free port) and starts accepting.
    public init(port: UInt16 = 0, idleTimeoutSeconds: Int = 60, stopSignal: StopSignal = StopSignal(), handler: @escaping Handler) throws {
        self.handler = handler
        self.stopSignal = stopSignal
        var options = LoopbackListener.Options()
        options.threadName = "broker-sim-accept"
        options.connectionName = "broker-sim-conn-"
        options.connectionStackSize = 1 << 20
        options.noDelay = true
        options.idleTimeoutSeconds = idleTimeoutSeconds
        listener = try LoopbackListener(port: port, options: options)
        self.port = listener.port
        // Its threads keep the server (as each connection's thread did before): it lives until `stop()`.
        listener.start { [self] fd, _ in serve(fd: fd) }
    }

    deinit { stop() }

    /// Stops accepting, closes every connection, wakes sleeping handlers, waits up to 5 s. Idempotent.
    public func stop() {
        stopSignal.fire()
        listener.stop()
    }

    // MARK: Serving a connection

    private func serve(fd: Int32) {
        var buffer = RequestBuffer()
        while !stopSignal.isFired {
            let parsed: ParsedRequest
            switch readRequest(fd: fd, buffer: &buffer) {
            case .closed: return
            case .malformed(let status, let reason):
                let body = JSONValue.object([("error", .string(reason))])
                _ = write(fd: fd, encode(.json(status, body), keepAlive: false))
                return
            case .request(let request): parsed = request
            }
            guard let response = handler(parsed.request) else { return }
            guard !stopSignal.isFired else { return }
            guard write(fd: fd, encode(response, keepAlive: parsed.keepAlive)) else { return }
            if !parsed.keepAlive { return }
        }
    }

    /// The response's bytes: status line, its headers in order (any `Content-Length` of its own
    /// replaced by the body's), `Connection`, then the body; written by one `send`.
    private func encode(_ response: HTTPServerResponse, keepAlive: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(160 + response.body.count)
        bytes.append(contentsOf: "HTTP/1.1 ".utf8)
        bytes.append(contentsOf: String(response.status).utf8)
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: LoopbackSocket.reasonPhrase(response.status).utf8)
        bytes.append(contentsOf: "\r\n".utf8)
        for (name, value) in response.headers where !ASCIIText.equalsIgnoringCase(name, "Content-Length") {
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: value.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "Content-Length: ".utf8)
        bytes.append(contentsOf: String(response.body.count).utf8)
        bytes.append(contentsOf: keepAlive ? "\r\nConnection: keep-alive\r\n\r\n".utf8 : "\r\nConnection: close\r\n\r\n".utf8)
        response.body.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return bytes
    }

    private func write(fd: Int32, _ bytes: [UInt8]) -> Bool { LoopbackSocket.sendAll(fd, Data(copying: bytes)) }

    // MARK: Reading requests

    private struct ParsedRequest {
        let request: HTTPServerRequest
        let keepAlive: Bool
    }

    private enum ReadResult {
        case request(ParsedRequest)
        case closed
        case malformed(status: Int, reason: String)
    }

    /// Bytes received but not yet consumed, plus how far the head terminator search got.
    struct RequestBuffer {
        var bytes: [UInt8] = []
        var scanned = 0
        /// What each `recv` reads into, kept for the connection's life.
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)

        /// Drops the first `count` bytes (one request); the storage is kept for the next one.
        mutating func consume(_ count: Int) {
            if count == bytes.count { bytes.removeAll(keepingCapacity: true) } else { bytes.removeFirst(count) }
            scanned = 0
        }
    }

    /// Where the head's CR LF CR LF starts, searching on from `buffer.scanned` (less the 3 bytes a
    /// terminator split across reads may have left); nil when it has not arrived yet.
    static func headEnd(_ buffer: inout RequestBuffer) -> Int? {
        let from = max(0, buffer.scanned - 3)
        buffer.scanned = buffer.bytes.count
        return buffer.bytes.withUnsafeBufferPointer { bytes -> Int? in
            guard bytes.count >= 4 else { return nil }
            var i = from
            while i <= bytes.count - 4 {
                if bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13, bytes[i + 3] == 10 { return i }
                i += 1
            }
            return nil
        }
    }

    private func readRequest(fd: Int32, buffer: inout RequestBuffer) -> ReadResult {
        var headEnd: Int?
        while true {
            headEnd = Self.headEnd(&buffer)
            if let end = headEnd {
                if end > Self.maxHeadBytes { return .malformed(status: 431, reason: "request head too large") }
                break
            }
            if buffer.bytes.count > Self.maxHeadBytes { return .malformed(status: 431, reason: "request head too large") }
            if !receive(fd: fd, into: &buffer) { return .closed }
        }
        // The head is split at CRLF bytes, as `components(separatedBy: "\r\n")` of its text would
        // (CR LF never joins another character); each line is parsed by ASCIIText's fast paths.
        let head = buffer.bytes[0..<headEnd!]
        var requestLine: [String] = []
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(8)
        var lineStart = head.startIndex
        var i = head.startIndex
        func line(_ bytes: ArraySlice<UInt8>) {
            if lineStart == head.startIndex {
                requestLine = ASCIIText.words(bytes)
            } else if let field = ASCIIText.headerField(bytes) {
                headers.append(field)
            }
        }
        while i + 1 < head.endIndex {
            if head[i] == 13, head[i + 1] == 10 {
                line(head[lineStart..<i])
                i += 2
                lineStart = i
            } else {
                i += 1
            }
        }
        line(head[lineStart..<head.endIndex])
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            return .malformed(status: 400, reason: "malformed request line")
        }
        func header(_ name: String) -> String? {
            headers.first { ASCIIText.equalsIgnoringCase($0.name, name) }?.value
        }
        if header("Transfer-Encoding") != nil {
            return .malformed(status: 411, reason: "chunked request bodies are not supported; send Content-Length")
        }
        // Every Content-Length must be the same run of digits (RFC 9112 §6.3): a server that read
        // "abc" as 0, or took the first of two, would frame the next request wrongly.
        let lengths = headers.filter { ASCIIText.equalsIgnoringCase($0.name, "Content-Length") }.map(\.value)
        guard lengths.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }),
              Set(lengths).count <= 1 else {
            return .malformed(status: 400, reason: "invalid Content-Length")
        }
        let length = lengths.first.map { Int($0) ?? Int.max } ?? 0
        guard length <= maxRequestBytes else { return .malformed(status: 413, reason: "request body too large") }
        let bodyStart = headEnd! + 4
        while buffer.bytes.count < bodyStart + length {
            if !receive(fd: fd, into: &buffer) { return .closed }
        }
        let body = length == 0 ? Data() : buffer.bytes.withUnsafeBufferPointer { Data(buffer: UnsafeBufferPointer(rebasing: $0[bodyStart..<bodyStart + length])) }
        buffer.consume(bodyStart + length)

        let target = requestLine[1]
        let mark = target.firstIndex(of: "?")
        let path = mark.map { String(target[..<$0]) } ?? target
        let query = mark.map { String(target[target.index(after: $0)...]) } ?? ""
        let version = requestLine[2]
        let connection = header("Connection")?.lowercased()
        let keepAlive = version == "HTTP/1.1" ? connection != "close" : connection == "keep-alive"
        let request = HTTPServerRequest(method: requestLine[0], path: path, query: query, headers: headers, body: body)
        return .request(ParsedRequest(request: request, keepAlive: keepAlive))
    }

    private func receive(fd: Int32, into buffer: inout RequestBuffer) -> Bool {
        LoopbackSocket.receive(fd, into: &buffer.bytes, chunk: &buffer.chunk)
    }
}
