import Foundation
import Testing
import TMRedis
#if canImport(Glibc)
import Glibc
#endif

/// How a connection over a Unix socket waits for its reply: asleep once per reply, not woken when
/// the server takes in the command (the kernel's write-space wake of a Unix socket reaches a thread
/// asleep in `read`, which finds nothing and sleeps again: one context switch more per command
/// whenever the server reads after the client went to sleep), and never longer than the command
/// timeout. The server here is the test's own, so it reads the command only once the client
/// sleeps, and answers when the test says.
@Suite struct RedisUnixWaitTests {
    /// The client sleeps exactly once for a reply although the server reads its command while it
    /// sleeps (counted: the thread's voluntary context switches across the command).
    @Test func aReplyCostsOneSleepAlthoughTheServerReadsTheCommandMeanwhile() throws {
        let server = try FakeUnixServer()
        defer { server.close() }
        let client = ClientThread(socketPath: server.path, commandTimeout: .seconds(30))
        try server.accept()
        try server.answerNextCommand("+PONG\r\n")  // the handshake's PING
        let thread = try client.waitUntilReady()

        let sent = client.send("GET", "k")
        try server.waitForInput()                                        // the command is written...
        try waitFor("the client asleep for its reply") { thread.state == "S" }  // ...and the client sleeps
        let asleep = thread.voluntarySwitches
        try server.readCommand()  // frees the client's write space: a thread asleep in `read` is woken here
        // A client woken for nothing sleeps again at once: give it ample time to show it (a bound,
        // not an assertion: the client that waits right is never woken before the reply).
        var spuriousWake = false
        for _ in 0..<500 where !spuriousWake {
            usleep(1_000)
            spuriousWake = thread.voluntarySwitches != asleep
        }
        try server.reply("$-1\r\n")
        let outcome = try sent.wait()
        #expect(outcome.error == nil)
        #expect(!spuriousWake, "woken when the server read the command")
        #expect(outcome.voluntarySwitches == 1, "sleeps for one reply: \(outcome.voluntarySwitches)")
    }

    /// A reply that never comes fails the command within the command timeout, as may-have-executed,
    /// while the server still holds the connection open.
    @Test func aReplyThatNeverComesTimesOut() throws {
        let server = try FakeUnixServer()
        defer { server.close() }
        let client = ClientThread(socketPath: server.path, commandTimeout: .milliseconds(300))
        try server.accept()
        try server.answerNextCommand("+PONG\r\n")
        _ = try client.waitUntilReady()

        let sent = client.send("GET", "k")
        try server.readCommand()  // and never answers
        // The bound only keeps a hung client from hanging the suite; the connection stays open meanwhile.
        let outcome = try sent.wait(upTo: 20)
        guard case .connection(_, let mayHaveExecuted)? = outcome.error as? RedisError else {
            Issue.record("expected a connection error, got \(String(describing: outcome.error))")
            return
        }
        #expect(mayHaveExecuted)
    }
}

/// Waits (polling) for `condition`, failing after 20 s so a broken wait cannot hang the suite.
private func waitFor(_ what: String, _ condition: () -> Bool) throws {
    for _ in 0..<20_000 {
        if condition() { return }
        usleep(1_000)
    }
    throw WaitFailed(what: what)
}

private struct WaitFailed: Error, CustomStringConvertible {
    let what: String
    var description: String { "never: \(what)" }
}

/// A thread of this process, seen through `/proc`.
private struct ObservedThread {
    let tid: String

    private func field(_ file: String) -> String {
        (try? String(contentsOfFile: "/proc/self/task/\(tid)/\(file)", encoding: .utf8)) ?? ""
    }

    /// The scheduler state letter (`R`, `S`, ...).
    var state: String {
        guard let close = field("stat").range(of: ") ", options: .backwards) else { return "?" }
        return String(field("stat")[close.upperBound...].prefix(1))
    }

    var voluntarySwitches: Int {
        for line in field("status").split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") {
            return Int(line.split(separator: "\t").last.map(String.init) ?? "") ?? -1
        }
        return -1
    }

    static var current: ObservedThread {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
        return ObservedThread(tid: String(link.split(separator: "/").last ?? ""))
    }
}

/// A `RedisConnection` on a thread of its own, sending one command when asked.
private final class ClientThread: @unchecked Sendable {
    struct Outcome {
        var error: Error?
        var voluntarySwitches: Int
    }

    final class Pending: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        var outcome: Outcome?
        func wait(upTo seconds: Int = 60) throws -> Outcome {
            guard done.wait(timeout: .now() + .seconds(seconds)) == .success, let outcome else {
                throw WaitFailed(what: "the command's outcome")
            }
            return outcome
        }
    }

    private let ready = DispatchSemaphore(value: 0)
    private let go = DispatchSemaphore(value: 0)
    private var thread: ObservedThread?
    private var setupError: Error?
    private var command: (String, String)?
    private let pending = Pending()

    init(socketPath: String, commandTimeout: Duration) {
        let configuration = RedisConfiguration(socketPath: socketPath, commandTimeout: commandTimeout)
        Thread { [self] in
            thread = ObservedThread.current
            let connection: RedisConnection
            do { connection = try RedisConnection(configuration: configuration) } catch {
                setupError = error
                ready.signal()
                return
            }
            ready.signal()
            go.wait()
            guard let (name, key) = command else { return }
            let before = ObservedThread.current.voluntarySwitches
            var failure: Error?
            do { try connection.send(name, key) } catch { failure = error }
            pending.outcome = Outcome(error: failure, voluntarySwitches: ObservedThread.current.voluntarySwitches - before)
            connection.close()
            pending.done.signal()
        }.start()
    }

    /// The client's thread once it is connected.
    func waitUntilReady() throws -> ObservedThread {
        guard ready.wait(timeout: .now() + .seconds(60)) == .success else { throw WaitFailed(what: "the client connected") }
        if let setupError { throw setupError }
        return thread!
    }

    func send(_ name: String, _ key: String) -> Pending {
        command = (name, key)
        go.signal()
        return pending
    }
}

/// A server on a Unix socket that reads and answers only when the test says.
private final class FakeUnixServer {
    let path: String
    private let listener: Int32
    private var connection: Int32 = -1

    init() throws {
        path = "/tmp/tm-rwait-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    /// Accepts the client's connection (its connect has queued it: no wait for the client).
    func accept() throws {
        var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 60_000) == 1 else { throw WaitFailed(what: "a connection") }
        connection = Glibc.accept(listener, nil, nil)
        guard connection >= 0 else { throw POSIXError(.EIO) }
    }

    /// Bytes wait to be read (found without reading them: reading is what wakes the writer).
    func waitForInput() throws {
        try waitFor("the command written") {
            var count: Int32 = 0
            let status = withUnsafeMutablePointer(to: &count) { ioctl(connection, UInt(FIONREAD), $0) }
            return status == 0 && count > 0
        }
    }

    /// Reads what the client wrote (one command: each is written whole).
    func readCommand() throws {
        try waitForInput()
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard recv(connection, &buffer, buffer.count, 0) > 0 else { throw POSIXError(.EIO) }
    }

    func reply(_ text: String) throws {
        let sent = text.utf8CString.withUnsafeBytes { send(connection, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
        guard sent == text.utf8.count else { throw POSIXError(.EIO) }
    }

    func answerNextCommand(_ text: String) throws {
        try readCommand()
        try reply(text)
    }

    func close() {
        if connection >= 0 { Glibc.close(connection) }
        Glibc.close(listener)
        unlink(path)
    }
}
