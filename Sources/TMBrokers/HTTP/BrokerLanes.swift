import Foundation
import TMCore
import TMHTTP
import TMRedis

/// Threads that run a broker call's admission and its request in ONE job: each lane owns an
/// `HTTPClient` (configured as the `AsyncHTTPClient` it serves beside) and a Redis connection of its
/// own, so the order path's EVALSHA of `BrokerAdmission` and the POST after it cost one hop from the
/// task (task → lane → task) instead of two (task → Redis thread → task → HTTP lane → task).
///
/// Guarantees: the request is sent only after the admission granted it, on the same thread, in the
/// same job; a refused or failed admission sends nothing (`AdmissionTicket.NotSent`); each lane runs
/// one job at a time and a job goes to the lane with the fewest in flight; the lanes send with
/// `http`'s configuration (timeouts, proxy, response limits), so a transport of `http` may send
/// through them (`serves`). After `shutdown()` jobs fail as not sent.
public final class BrokerLanes: Sendable {
    /// One thread with the handles only it touches.
    private final class Lane: @unchecked Sendable {
        let thread: BlockingThread
        /// Used only on `thread`.
        let client: HTTPClient
        /// Used only on `thread`; opened on first use (`RedisConnection` reconnects by itself).
        var redis: RedisConnection?

        init(thread: BlockingThread, client: HTTPClient) {
            self.thread = thread
            self.client = client
        }
    }

    private let http: AsyncHTTPClient
    private let redis: RedisConfiguration
    private let lanes: [Lane]
    private let busy: LeastBusy

    /// `lanes` threads named `name-0`, `name-1`, ...; Redis connections are opened when first needed.
    public init(sharing http: AsyncHTTPClient, redis: RedisConfiguration, lanes: Int = 16, name: String = "broker-lanes") throws(HTTPClientError) {
        self.http = http
        self.redis = redis
        var made: [Lane] = []
        for index in 0..<max(1, lanes) {
            made.append(Lane(thread: BlockingThread(name: "\(name)-\(index)"), client: try HTTPClient(configuration: http.configuration)))
        }
        self.lanes = made
        busy = LeastBusy(lanes: made.count)
    }

    deinit { shutdown() }

    /// Whether requests of a transport sending through `client` may go through these lanes.
    func serves(_ client: AsyncHTTPClient) -> Bool { client === http }

    /// Runs `admit`, which gets the lane's Redis connection from `connect` (opened on first use: a
    /// failure to open it is the admission's failure, for `admit` to report), then — only when it
    /// returns true — sends `request` from the same thread. Throws only when nothing was sent
    /// (`admit`'s own error, or the lanes are shut down); the request's own failure is the result's.
    func send(_ request: HTTPRequest, admit: @escaping @Sendable (_ connect: () throws -> RedisConnection) throws -> Bool) async throws -> Result<HTTPResponse, HTTPClientError> {
        let index = busy.acquire()
        defer { busy.release(index) }
        let lane = lanes[index]
        let configuration = redis
        return try await lane.thread.run { () throws -> Result<HTTPResponse, HTTPClientError> in
            let connect = { () throws -> RedisConnection in
                let connection = try lane.redis ?? RedisConnection(configuration: configuration)
                lane.redis = connection
                return connection
            }
            guard try admit(connect) else { throw AdmissionTicket.NotSent.refused }
            HopStamps.stamp(.mark("admitted"), lane.thread.name)
            do throws(HTTPClientError) { return .success(try lane.client.send(request)) } catch { return .failure(error) }
        }
    }

    public func shutdown() {
        for lane in lanes { lane.thread.shutdown() }
    }
}
