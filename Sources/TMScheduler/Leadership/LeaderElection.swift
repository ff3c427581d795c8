import Foundation
import Logging
import TMCore
import TMLocks
import TMRedis

/// Campaigns for the leader lease and runs the leader's work while it holds it.
///
/// Guarantees: at most one term is valid at a time (the lock is `SET NX PX`); a standby retries
/// every ttl/3; the leader renews every ttl/3, well before expiry, and on a failed renewal its
/// term is invalid at once and its work is cancelled; stepping down (lost lease, an error of the
/// work, or cancellation) always releases the lock and withdraws the published identity.
public struct LeaderElection: Sendable {
    public let lock: DistributedLock
    public let registry: LeaderRegistry
    public let resource: String
    public let ttl: Duration
    public let logger: Logger

    public init(redis: RedisClient, resource: String, ttl: Duration, logger: Logger) {
        self.lock = DistributedLock(redis: redis)
        self.registry = LeaderRegistry(redis: redis, resource: resource)
        self.resource = resource
        self.ttl = ttl
        self.logger = logger
    }

    /// Campaigns until the task is cancelled; `lead` runs for each term won and is cancelled when
    /// the term ends. `lead` throwing ends the term (the lease is released for another scheduler).
    public func run(_ lead: @escaping @Sendable (LeaderTerm) async throws -> Void) async {
        while !Task.isCancelled {
            let lease: LockLease?
            do {
                lease = try await lock.tryAcquire(resource, ttl: ttl)
            } catch {
                logger.warning("cannot reach Redis to campaign for leadership", metadata: ["error": "\(error)"])
                lease = nil
            }
            if let lease {
                await serve(LeaderTerm(lease: lease, identity: Self.identity(lease)), lead)
            }
            try? await Task.sleep(for: ttl / 3)
        }
    }

    static func identity(_ lease: LockLease) -> LeaderIdentity {
        LeaderIdentity(host: ProcessInfo.processInfo.hostName, pid: getpid(), fencingToken: lease.fencingToken, since: Date())
    }

    private func serve(_ term: LeaderTerm, _ lead: @escaping @Sendable (LeaderTerm) async throws -> Void) async {
        let metadata: Logger.Metadata = ["leader": "\(term.identity)", "fencing_token": "\(term.identity.fencingToken)"]
        logger.info("elected leader", metadata: metadata)
        try? await registry.publish(term.identity, ttl: ttl)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await keepRenewing(term) }
            group.addTask {
                do {
                    try await lead(term)
                } catch is CancellationError {
                } catch {
                    logger.error("leader stops", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                }
            }
            // Whichever ends first ends the term: a lost lease stops the work, finished work frees the lease.
            await group.next()
            if Task.isCancelled {
                // A shutdown, not a lost lease: the lease is still ours, so the leader finishes the
                // tick it began (it stops at its next cancellation check) before the lease goes.
                await group.next()
            }
            term.lose()
            group.cancelAll()
        }
        // Sent from a fresh task so that a cancelled (shutting-down) caller still releases.
        let (lock, registry) = (lock, registry)
        await Task {
            _ = try? await lock.release(term.lease)
            try? await registry.withdraw(term.identity)
        }.value
        logger.info("stepped down", metadata: metadata)
    }

    /// Renews every ttl/3 until the lease is lost (or may have expired) or the task is cancelled.
    private func keepRenewing(_ term: LeaderTerm) async {
        let interval = ttl / 3
        var nextRenewal = term.lease.acquiredAt + interval
        while true {
            do {
                try await Task.sleep(until: nextRenewal, clock: .continuous)
            } catch {
                return
            }
            do {
                guard let renewed = try await lock.extend(term.lease) else {
                    logger.warning("leader lease lost to another scheduler", metadata: ["fencing_token": "\(term.identity.fencingToken)"])
                    term.lose()
                    return
                }
                term.renewed(renewed)
                try? await registry.publish(term.identity, ttl: ttl)
                nextRenewal = renewed.acquiredAt + interval
            } catch {
                // The lock may still be ours until the estimate says otherwise: retry soon.
                guard !term.lease.mayHaveExpired else {
                    logger.warning("leader lease expired: Redis unreachable", metadata: ["error": "\(error)"])
                    term.lose()
                    return
                }
                nextRenewal = .now + interval / 4
            }
        }
    }
}
