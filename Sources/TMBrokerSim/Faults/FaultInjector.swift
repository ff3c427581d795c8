import Foundation

/// The active fault rules, and the decision of what they do to each broker request.
///
/// Guarantees: each decision consumes rule counts atomically (two concurrent requests never both
/// take the last of a `count` or a 429 burst); error rates draw from a seeded generator, so a run
/// with the same seed and request order injects the same errors; rules apply in the order added,
/// and the first one that decides an outcome (429, error, drop) wins, while latencies add up and
/// the longest hang counts.
public final class FaultInjector: @unchecked Sendable {
    private let lock = NSLock()
    private var rules: [FaultRule] = []
    private var nextID = 1
    private var random: SplitMix64

    public init(seed: UInt64) { random = SplitMix64(seed: seed ^ 0xFA17) }

    /// Adds a rule (its id is assigned here) and returns the id.
    public func add(_ rule: FaultRule) -> String {
        lock.withLock {
            let id = "fault-\(nextID)"
            nextID += 1
            var stored = rule
            stored.id = id
            rules.append(stored)
            return id
        }
    }

    /// Removes one rule; false when there was none with that id.
    public func remove(id: String) -> Bool {
        lock.withLock {
            let before = rules.count
            rules.removeAll { $0.id == id }
            return rules.count < before
        }
    }

    public func removeAll() { lock.withLock { rules.removeAll() } }

    public var active: [FaultRule] { lock.withLock { rules } }

    /// Decides (and counts) what the faults do to this request.
    public func plan(_ broker: Broker, method: String, path: String) -> FaultPlan {
        lock.withLock {
            var plan = FaultPlan()
            for index in rules.indices where rules[index].matches(broker, method, path) {
                var rule = rules[index]
                plan.ruleIDs.append(rule.id)
                plan.latencyMilliseconds += rule.latencyMilliseconds
                plan.hangMilliseconds = max(plan.hangMilliseconds, rule.hangMilliseconds)
                if plan.outcome == .serve {
                    if rule.burst429 > 0 {
                        rule.burst429 -= 1
                        plan.outcome = .rateLimited
                    } else if rule.errorRate > 0, Double(random.next() % 1_000_000) / 1_000_000 < rule.errorRate {
                        plan.outcome = .error(status: rule.status)
                    } else if rule.dropResponseAfterExecute, rule.dropRate >= 1 || Double(random.next() % 1_000_000) / 1_000_000 < rule.dropRate {
                        plan.outcome = .dropAfterExecute
                    }
                }
                if let remaining = rule.remaining { rule.remaining = remaining - 1 }
                rules[index] = rule
            }
            rules.removeAll { $0.isSpent }
            return plan
        }
    }
}
