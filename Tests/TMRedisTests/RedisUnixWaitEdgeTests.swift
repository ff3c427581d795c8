import Foundation
import Testing
import TestSupport
import TMRedis
#if canImport(Glibc)
import Glibc
#endif

/// The Unix-socket reply wait (`RedisConnection.nextReply`) at its edges: a blocking command's own
/// timeout is waited for on top of the command timeout, and a signal that interrupts the wait does
/// not fail the command. (Adopted from session 35's review of the wait.)
@Suite(.serialized) struct RedisUnixWaitEdgeTests {
    private func unixConfiguration(commandTimeout: Duration) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: try TestServers.redisURL)
        try #require(configuration.socketPath != nil, "the test Redis must be a unix:// URL")
        configuration.commandTimeout = commandTimeout
        return configuration
    }

    @Test func aBlockLongerThanTheCommandTimeoutIsWaitedFor() throws {
        let redis = try RedisConnection(configuration: try unixConfiguration(commandTimeout: .seconds(1)))
        let stream = TestServers.uniqueName("unix-wait-block")
        // Blocks 1.5 s, past the 1 s command timeout: the wait is the block's time plus the command timeout.
        let reply = try redis.send(RedisCommand("XREAD", "COUNT", 1, "BLOCK", 1500, "STREAMS", stream, "$"), timeout: .milliseconds(1500))
        #expect(reply == .null)
        // The command timeout is back for the next command.
        #expect(try redis.send("PING") == .simple("PONG"))
    }

    @Test func signalsWhileWaitingAreRetried() throws {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in }
        action.sa_flags = 0  // no SA_RESTART: poll returns EINTR
        sigemptyset(&action.sa_mask)
        sigaction(SIGUSR2, &action, nil)
        final class Box: @unchecked Sendable {
            var thread = pthread_self()
            var result: Result<RedisValue, Error>?
            let ready = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        }
        let box = Box()
        let configuration = try unixConfiguration(commandTimeout: .seconds(1))
        let stream = TestServers.uniqueName("unix-wait-eintr")
        Thread {
            box.thread = pthread_self()
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            box.result = Result {
                let redis = try RedisConnection(configuration: configuration)
                box.ready.signal()
                return try redis.send(RedisCommand("XREAD", "BLOCK", 1000, "STREAMS", stream, "$"), timeout: .seconds(1))
            }
            box.ready.signal()
            box.done.signal()
        }.start()
        box.ready.wait()
        var sent = 0
        while box.done.wait(timeout: .now() + .milliseconds(7)) == .timedOut {
            pthread_kill(box.thread, SIGUSR2)
            sent += 1
        }
        #expect(sent > 0)
        #expect((try box.result?.get()) == .null, "\(String(describing: box.result))")
    }
}
