import Foundation
import Logging
import TMCore
import TMLocks
import TMRedis

/// Campaigns for the leader lease and runs the leader's work while it holds it.
///
/// Guarantees: at most one term is valid at a time (the lock is `SET NX PX`); a standby retries
/// every ttl/3; the leader's lease is kept by `DistributedLock.hold` (renewed every ttl/3, well
/// before expiry), and on a failed renewal its term is invalid at once and its work is cancelled;
/// stepping down (lost lease, an error of the work, or cancellation) always releases the lock and
/// withdraws the published identity.
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
            if let lease { await serve(lease, lead) }
            try? await Task.sleep(for: ttl / 3)
        }
    }

    static func identity(_ lease: LockLease) -> LeaderIdentity {
        LeaderIdentity(host: ProcessInfo.processInfo.hostName, pid: getpid(), fencingToken: lease.fencingToken, since: Date())
    }

    private func serve(_ lease: LockLease, _ lead: @escaping @Sendable (LeaderTerm) async throws -> Void) async {
        let identity = Self.identity(lease)
        let metadata: Logger.Metadata = ["leader": "\(identity)", "fencing_token": "\(identity.fencingToken)"]
        logger.info("elected leader", metadata: metadata)
        let (lock, registry, ttl, logger) = (lock, registry, ttl, logger)
        try? await registry.publish(identity, ttl: ttl)
        // The lease is kept by TMLocks' one keeper: renewed every ttl/3, the identity republished
        // with it; a lost lease marks the term invalid at once and cancels the work. On shutdown
        // (cancellation) the work finishes the tick it began before the lease goes.
        do {
            try await lock.hold(lease, onRenewal: { _ in try? await registry.publish(identity, ttl: ttl) }) { held in
                let term = LeaderTerm(held: held, identity: identity)
                defer { term.lose() }
                try await lead(term)
            }
        } catch let error as LockError where error == .leaseLost(resource: lease.resource) {
            logger.warning("leader lease lost to another scheduler, or Redis unreachable past its expiry", metadata: metadata)
        } catch is CancellationError {
        } catch {
            logger.error("leader stops", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        // Sent from a fresh task so that a cancelled (shutting-down) caller still releases.
        await Task {
            _ = try? await lock.release(lease)
            try? await registry.withdraw(identity)
        }.value
        logger.info("stepped down", metadata: metadata)
    }
}
