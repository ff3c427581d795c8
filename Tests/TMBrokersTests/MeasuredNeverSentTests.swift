import Foundation
import TMBrokers
import TMCore
import TestSupport
import Testing

/// A call that failed before anything was sent says nothing about the broker: it must not reach the
/// router's live stats — above all not as a success of near-zero time, which would flatter the
/// broker's speed score.
@Suite struct MeasuredNeverSentTests {
    struct Sealed: Error {}

    @Test func credentialsThatCannotBeOpenedAreNotReported() async throws {
        let requests = Locked(0)
        let harness = try BrokerHarness(route: { _ in
            requests.withLock { $0 += 1 }
            return .json(200, "[]")
        })
        let reports = Locked<[(latency: Duration, failed: Bool)]>([])
        let measured = MeasuredBrokerAdapter(harness.adapter(.alpaca)) { _, latency, failed in reports.withLock { $0.append((latency, failed)) } }
        // The keyring cannot unseal them (a rotated-away key, a corrupt row): refused before any request.
        let unopenable = BrokerCredentials { throw Sealed() }
        let error = await brokerError { try await measured.positions(credentials: unopenable) }
        #expect(error.map(ErrorShape.init) == .unauthorized)
        #expect(requests.current == 0, "nothing was sent")
        #expect(reports.current.isEmpty, "a call that never reached the broker is no sample of its speed or reliability")
        // A call that reached it is still reported.
        _ = try await measured.positions(credentials: Secrets.credentials)
        #expect(requests.current == 1 && reports.current.count == 1 && reports.current.first?.failed == false)
    }
}
