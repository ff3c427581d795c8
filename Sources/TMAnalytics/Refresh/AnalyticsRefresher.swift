import Foundation
import TMRedis

/// Recomputes the analytics of users whose trades changed, once per burst (`RefreshCoordinator`),
/// through `recompute` (`AnalyticsPipeline.recompute(users:runID: nil)` in production, which also
/// invalidates the users' cached analytics).
///
/// Guarantees: `refresh` returns `.recomputed` or `.covered` for a user only after a recompute of
/// that user finished which started reading after this call marked the user — so a trade committed
/// before its event reached `refresh` is in the user's analytics when it returns; the users this
/// call holds are recomputed in one `recompute` call, after the settle window; a user it cannot
/// get covered before `deadline` is `.failed` (retryable), never reported done.
public struct AnalyticsRefresher: Sendable {
    public typealias Recompute = @Sendable ([UUID]) async throws -> Void

    public let coordinator: RefreshCoordinator
    public let recompute: Recompute
    /// How long a holder waits before reading its target, so the rest of a burst (the next
    /// batches of the same fills) marks the user and rides on this recompute.
    public var settle: Duration = .milliseconds(250)
    /// How often a waiting invocation looks whether its users are covered.
    public var poll: Duration = .milliseconds(25)

    public init(coordinator: RefreshCoordinator, recompute: @escaping Recompute) {
        self.coordinator = coordinator
        self.recompute = recompute
    }

    public enum Outcome: Sendable, Equatable {
        /// This call recomputed the user.
        case recomputed
        /// Another invocation's recompute, started after the mark, covered the user.
        case covered
        case failed(String)
    }

    /// Refreshes each distinct user of `users`, giving up (`.failed`) at `deadline`.
    public func refresh(users: [UUID], deadline: Date) async -> [UUID: Outcome] {
        let distinct = Array(Set(users))
        guard !distinct.isEmpty else { return [:] }
        var outcomes: [UUID: Outcome] = [:]
        let token = UUID().uuidString
        var tickets: [UUID: Int64]
        do { tickets = try await coordinator.mark(distinct) } catch {
            return Dictionary(uniqueKeysWithValues: distinct.map { ($0, .failed("marking for a refresh: \(error)")) })
        }
        while !tickets.isEmpty {
            guard Date() < deadline else { break }
            let claims: [UUID: RefreshCoordinator.Claim]
            do { claims = try await coordinator.claim(tickets, token: token) } catch {
                for user in tickets.keys { outcomes[user] = .failed("claiming the refresh: \(error)") }
                return outcomes
            }
            for (user, claim) in claims where claim == .done {
                outcomes[user] = .covered
                tickets[user] = nil
            }
            let held = claims.filter { $0.value == .claimed }.map(\.key)
            guard !held.isEmpty else {
                if !tickets.isEmpty { try? await Task.sleep(for: poll) }
                continue
            }
            try? await Task.sleep(for: settle)
            do {
                let targets = try await coordinator.targets(held)
                do {
                    try await recompute(held)
                } catch {
                    try? await coordinator.finish(held, token: token, targets: nil)
                    throw error
                }
                try await coordinator.finish(held, token: token, targets: targets)
                for user in held { outcomes[user] = .recomputed }
            } catch {
                for user in held { outcomes[user] = .failed("recomputing: \(error)") }
            }
            for user in held { tickets[user] = nil }
        }
        for user in tickets.keys {
            outcomes[user] = .failed("another invocation's refresh of the user did not finish before the deadline")
        }
        return outcomes
    }
}
