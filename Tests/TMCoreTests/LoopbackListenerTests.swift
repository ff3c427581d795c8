import Foundation
import Testing
import TestSupport
@testable import TMCore
#if canImport(Glibc)
import Glibc
#endif

/// `LoopbackListener`: the accept loop and connection bookkeeping broker-sim's and the tests' HTTP
/// servers share.
@Suite struct LoopbackListenerTests {
    /// Reads until the end of the stream; nil when the stream did not end (no byte for 20 s: only a
    /// failing test waits that long).
    private func readAll(_ fd: Int32) -> [UInt8]? {
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return bytes }
            if count < 0 { if errno == EINTR { continue }; return errno == ECONNRESET ? bytes : nil }
            bytes += chunk[0..<count]
        }
    }

    @Test func eachConnectionIsServedWithItsNumberAndClosedByTheListenerAfterServe() throws {
        let listener = try LoopbackListener()
        listener.start { fd, number in _ = LoopbackSocket.sendAll(fd, Data("connection \(number)".utf8)) }
        defer { listener.stop() }
        let first = try LoopbackSocket.connect(port: listener.port)
        defer { close(first) }
        // Reading to the end proves the listener closed the descriptor once `serve` returned.
        #expect(readAll(first).map { String(decoding: $0, as: UTF8.self) } == "connection 1")
        let second = try LoopbackSocket.connect(port: listener.port)
        defer { close(second) }
        #expect(readAll(second).map { String(decoding: $0, as: UTF8.self) } == "connection 2")
        #expect(listener.connectionsAccepted == 2)
    }

    @Test func stopShutsOpenConnectionsDownAndWaitsForTheirThreads() async throws {
        let ended = Locked(0)
        let listener = try LoopbackListener()
        listener.start { fd, _ in
            // Blocks until the client or `stop()` ends the connection.
            var bytes: [UInt8] = []
            while LoopbackSocket.receive(fd, into: &bytes) {}
            ended.withLock { $0 += 1 }
        }
        let client = try LoopbackSocket.connect(port: listener.port)
        defer { close(client) }
        try await eventually("the connection to be accepted") { listener.connectionsAccepted == 1 }
        listener.stop()
        // The client never closed: only stop's shutdown could end the thread, and stop waited for it.
        #expect(ended.withLock { $0 } == 1)
        #expect(readAll(client) == [])
    }

    @Test func runningOutOfDescriptorsOrMemoryNeverStopsTheAcceptLoop() {
        for code in [EINTR, ECONNABORTED, EMFILE, ENFILE, ENOBUFS, ENOMEM] {
            #expect(LoopbackListener.retriable(acceptError: code), "errno \(code)")
        }
        // A listener whose socket is gone (shut down by `stop`, closed) ends its loop.
        for code in [EBADF, EINVAL, ENOTSOCK] {
            #expect(!LoopbackListener.retriable(acceptError: code), "errno \(code)")
        }
    }
}
