import Foundation
import TMCore

/// An HTTP client for async code: each request runs on a dedicated `BlockingThread` that owns an
/// `HTTPClient`, so libcurl's blocking calls never occupy Swift's cooperative pool.
///
/// Guarantees: safe to call from any number of tasks concurrently; each lane (thread + handle) runs
/// one request at a time, and a request goes to the lane with the fewest requests in flight, so up
/// to `lanes` requests proceed in parallel and each lane keeps its connections alive. Errors are the
/// same `HTTPClientError`s as the synchronous client; after `shutdown()` requests fail as `.notSent`.
/// Task cancellation does not interrupt a request already on the wire (aborting it would only make
/// its outcome unknown); the request's timeout bounds it.
public final class AsyncHTTPClient: Sendable {
    /// One thread and the client only it touches.
    private final class Lane: @unchecked Sendable {
        let thread: BlockingThread
        /// Used only on `thread`, which runs one job at a time.
        let client: HTTPClient

        init(thread: BlockingThread, client: HTTPClient) {
            self.thread = thread
            self.client = client
        }
    }

    public let configuration: HTTPClient.Configuration
    private let lanes: [Lane]
    private let busy: LeastBusy

    /// Starts `lanes` threads named `name-0`, `name-1`, ... each with its own connection cache.
    public init(configuration: HTTPClient.Configuration = .init(), lanes: Int = 1, name: String = "http")
        throws(HTTPClientError)
    {
        self.configuration = configuration
        var made: [Lane] = []
        for index in 0..<max(1, lanes) {
            let client = try HTTPClient(configuration: configuration)
            made.append(Lane(thread: BlockingThread(name: "\(name)-\(index)"), client: client))
        }
        self.lanes = made
        busy = LeastBusy(lanes: made.count)
    }

    deinit {
        shutdown()
    }

    /// Sends the request on a lane thread and suspends until the response or the error.
    public func send(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let index = busy.acquire()
        defer { busy.release(index) }
        let lane = lanes[index]
        let result: Result<HTTPResponse, HTTPClientError>
        do {
            result = try await lane.thread.run { () -> Result<HTTPResponse, HTTPClientError> in
                do throws(HTTPClientError) { return .success(try lane.client.send(request)) } catch { return .failure(error) }
            }
        } catch {
            // Only BlockingThread.Stopped reaches here: the job never ran.
            throw .notSent(.init(kind: .other, curlCode: nil, message: "HTTP client has been shut down",
                                 method: request.method, url: HTTPRequest.redactedURL(request.url)))
        }
        return try result.get()
    }

    /// Stops the lane threads once their queued requests have run; later `send`s fail as `.notSent`.
    public func shutdown() {
        for lane in lanes { lane.thread.shutdown() }
    }
}
