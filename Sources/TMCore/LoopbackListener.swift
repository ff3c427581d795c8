import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Accepts TCP connections on 127.0.0.1 and serves each on a thread of its own: the half that the
/// loopback HTTP servers (broker-sim's `HTTPServer`, the tests' `TestHTTPServer`) share, so the
/// accept loop, the connection bookkeeping and the shutdown are written once.
///
/// Guarantees:
/// - only loopback is ever bound (`LoopbackSocket.bind`);
/// - running out of descriptors or memory, or a handshake aborted before `accept`, never stops the
///   listener: it keeps serving the connections it has and accepts again (after 10 ms when the
///   system is short of resources);
/// - `serve` owns nothing to close: the listener closes each connection's descriptor once, after
///   `serve` returned, so a number is never closed twice or reused under another thread;
/// - `stop()` (idempotent, also run on deinit) stops accepting, shuts every open connection down
///   (waking threads blocked in `accept` or `recv`) and waits up to 5 s for every thread to end.
public final class LoopbackListener: @unchecked Sendable {
    /// How accepted connections are set up.
    public struct Options: Sendable {
        /// The listen queue's length.
        public var backlog: Int32 = 1024
        /// The accept thread's name; a connection's thread is named `connectionName` + its number.
        public var threadName = "loopback-accept"
        public var connectionName = "loopback-conn-"
        /// Each connection thread's stack (nil: Foundation's default).
        public var connectionStackSize: Int?
        /// Sets TCP_NODELAY on each connection (a response goes out in one `send`: no Nagle wait).
        public var noDelay = false
        /// A `recv` waiting longer fails (SO_RCVTIMEO), so an idle connection's thread ends; nil: never.
        public var idleTimeoutSeconds: Int?
        public init() {}
    }

    /// Serves one connection on its own thread: its descriptor and its 1-based number in accept order.
    public typealias Serve = @Sendable (_ fd: Int32, _ number: Int) -> Void

    /// The port bound (the system's choice when 0 was asked for).
    public let port: UInt16

    private let listenFD: Int32
    private let options: Options
    private let state = NSCondition()
    private var started = false
    private var stopped = false
    private var openConnections: Set<Int32> = []
    private var accepted = 0
    private var liveThreads = 0

    /// Binds 127.0.0.1:`port` (0: any free port) and listens; connections wait in the backlog until
    /// `start`, so a server can finish its own setup first.
    public init(port: UInt16 = 0, options: Options = Options()) throws {
        self.options = options
        (listenFD, self.port) = try LoopbackSocket.bind(port: port)
        guard listen(listenFD, options.backlog) == 0 else {
            let code = errno
            close(listenFD)
            throw LoopbackSocket.SocketError(operation: "listen", code: code)
        }
    }

    /// Starts accepting, each connection served by `serve` on a thread of its own. Once; a call after
    /// the first, or after `stop()`, does nothing. Only the listener's threads hold `serve`: what it
    /// captures lives until `stop()` ends them.
    public func start(serve: @escaping Serve) {
        state.lock()
        defer { state.unlock() }
        guard !started, !stopped else { return }
        started = true
        liveThreads = 1
        let acceptThread = Thread { [self] in acceptLoop(serve) }
        acceptThread.name = options.threadName
        acceptThread.start()
    }

    deinit { stop() }

    /// TCP connections accepted so far.
    public var connectionsAccepted: Int {
        state.lock(); defer { state.unlock() }
        return accepted
    }

    /// Stops accepting, shuts every connection down, waits up to 5 s for the threads. Idempotent.
    public func stop() {
        state.lock()
        if !stopped {
            stopped = true
            // shutdown (not close) wakes threads blocked in accept/recv; each thread closes its own fd
            // (the accept thread the listener's; never started, nobody else will).
            if started { shutdown(listenFD, Int32(SHUT_RDWR)) } else { close(listenFD) }
            for fd in openConnections { shutdown(fd, Int32(SHUT_RDWR)) }
        }
        let deadline = Date().addingTimeInterval(5)
        while liveThreads > 0 {
            if !state.wait(until: deadline) { break }
        }
        state.unlock()
    }

    private func threadFinished() {
        state.lock()
        liveThreads -= 1
        state.broadcast()
        state.unlock()
    }

    private func acceptLoop(_ serve: @escaping Serve) {
        defer {
            close(listenFD)
            threadFinished()
        }
        while true {
            let fd = accept(listenFD, nil, nil)
            let code = errno
            state.lock()
            if stopped {
                state.unlock()
                if fd >= 0 { close(fd) }
                return
            }
            guard fd >= 0 else {
                state.unlock()
                if Self.retriable(acceptError: code) {
                    if code != EINTR && code != ECONNABORTED { usleep(10_000) }
                    continue
                }
                return
            }
            accepted += 1
            let number = accepted
            openConnections.insert(fd)
            liveThreads += 1
            state.unlock()
            configure(fd)
            let thread = Thread { [self] in
                serve(fd, number)
                state.lock()
                openConnections.remove(fd)
                close(fd)
                state.unlock()
                threadFinished()
            }
            thread.name = "\(options.connectionName)\(number)"
            if let size = options.connectionStackSize { thread.stackSize = size }
            thread.start()
        }
    }

    /// Whether `accept` failing with `code` leaves the listener able to accept again: an interrupted
    /// call, a handshake aborted before it, or a shortage of descriptors or memory.
    static func retriable(acceptError code: Int32) -> Bool {
        [EINTR, ECONNABORTED, EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(code)
    }

    private func configure(_ fd: Int32) {
        if options.noDelay {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if let seconds = options.idleTimeoutSeconds {
            var timeout = timeval(tv_sec: seconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }
}
