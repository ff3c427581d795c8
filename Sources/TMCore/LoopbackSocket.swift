import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The socket plumbing of the loopback HTTP servers (broker-sim, the tests' scripted server):
/// listening on 127.0.0.1, sending everything, receiving a chunk, and status reason phrases.
///
/// Guarantees: the listener is bound to 127.0.0.1 only (never reachable from another machine);
/// sending never raises SIGPIPE on a peer that went away (it reports false instead); every call
/// retries on EINTR.
public enum LoopbackSocket {
    /// A socket call failed, with the operation and the system's reason.
    public struct SocketError: Error, CustomStringConvertible, Sendable {
        public let operation: String
        public let code: Int32
        public init(operation: String, code: Int32) {
            self.operation = operation
            self.code = code
        }
        public var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
    }

    /// A new IPv4 TCP socket.
    private static func tcpSocket() throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SocketError(operation: "socket", code: errno) }
        return fd
    }

    /// 127.0.0.1:`port`.
    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    /// Runs a socket call on `fd`; when it fails, closes `fd` and throws the call's error.
    private static func call(_ operation: String, _ fd: Int32, _ body: () -> Int32) throws {
        guard body() == 0 else {
            let code = errno
            close(fd)
            throw SocketError(operation: operation, code: code)
        }
    }

    /// A TCP socket bound to 127.0.0.1:`port` (0: the system picks), not yet listening, and its port.
    public static func bind(port: UInt16 = 0) throws -> (fd: Int32, port: UInt16) {
        let fd = try tcpSocket()
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: port)  // 127.0.0.1 only
        try call("bind 127.0.0.1:\(port)", fd) {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try call("getsockname", fd) {
            withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// A TCP socket connected to 127.0.0.1:`port` (a client of a loopback server: tests, probes).
    public static func connect(port: UInt16) throws -> Int32 {
        let fd = try tcpSocket()
        var address = loopback(port: port)
        try call("connect 127.0.0.1:\(port)", fd) {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        return fd
    }

    /// Sends all of `data`; false when the peer is gone.
    public static func sendAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                #if canImport(Glibc)
                let flags = Int32(MSG_NOSIGNAL)
                #else
                let flags: Int32 = 0
                #endif
                let sent = send(fd, raw.baseAddress! + offset, raw.count - offset, flags)
                if sent < 0 && errno == EINTR { continue }
                if sent <= 0 { return false }
                offset += sent
            }
            return true
        }
    }

    /// Appends what one `recv` returns to `buffer`; false on end of stream or error.
    public static func receive(_ fd: Int32, into buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        return receive(fd, into: &buffer, chunk: &chunk)
    }

    /// `receive(_:into:)` reading through `chunk`, which a connection keeps for all its reads (a
    /// fresh zeroed 16 KiB chunk per read costs more than a small request's whole parse).
    public static func receive(_ fd: Int32, into buffer: inout [UInt8], chunk: inout [UInt8]) -> Bool {
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }

    /// The reason phrase of an HTTP status, for a response's status line.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 207: return "Multi-Status"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Payload Too Large"
        case 418: return "I'm a teapot"
        case 422: return "Unprocessable Entity"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status \(status)"
        }
    }
}
