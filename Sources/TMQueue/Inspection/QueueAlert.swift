import Foundation
import TMCore

/// Something an operator must act on about a queue: it fills and nobody drains it.
///
/// Guarantees: computed from one `QueueStatus` and the queue's manifest alone (no history), so
/// `tm queues` and `tm doctor` flag the same conditions; a queue with nothing waiting is never
/// flagged; every alert says what was seen and against which threshold.
public struct QueueAlert: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable {
        /// Messages wait and no consumer has read the queue recently (or none ever did).
        case noConsumer = "no-consumer"
        /// Ready messages wait while the oldest message keeps aging: the backlog is not draining.
        case notDraining = "not-draining"
        /// The backlog is close to `max_length`, past which enqueues are refused.
        case nearlyFull = "nearly-full"
        /// Messages meant for the queue wait in a producer's outbox too long (or were dropped from it).
        case outboxWaiting = "outbox-waiting"
    }

    public var kind: Kind
    public var message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }

    /// A consumer counts as active when Redis saw it within this long (it polls while idle and
    /// reads, claims or heartbeats while busy).
    public static func activeWindow(_ manifest: QueueManifest) -> Duration { max(manifest.visibilityTimeout * 2, .seconds(60)) }
    /// The oldest message may be this old, while ready messages wait, before the queue is not draining.
    public static func stallAfter(_ manifest: QueueManifest) -> Duration { max(manifest.visibilityTimeout * 2, .seconds(300)) }
    /// The share of `max_length` past which a queue is nearly full.
    public static let nearlyFullShare = 0.8

    /// The alerts of one queue's status.
    public static func evaluate(_ status: QueueStatus, manifest: QueueManifest) -> [QueueAlert] {
        let totals = status.totals
        let backlog = totals.length + totals.delayed
        guard backlog > 0 else { return [] }
        var alerts: [QueueAlert] = []
        let window = activeWindow(manifest)
        let consumers = status.shards.flatMap(\.consumers).map(\.consumer)
        let active = consumers.filter { $0.idleMs <= window.milliseconds }
        if active.isEmpty {
            let why = consumers.isEmpty ? "no consumer has ever read it"
                : "none of its \(Set(consumers.map(\.name)).count) consumer(s) was seen in the last \(DurationText.format(window))"
            alerts.append(QueueAlert(kind: .noConsumer, message: "\(backlog) message(s) waiting and \(why): the backlog only grows"))
        }
        let ready = totals.undelivered ?? totals.length
        if ready > 0, let age = status.shards.compactMap(\.oldestEntryAgeMs).max(), age > stallAfter(manifest).milliseconds {
            alerts.append(QueueAlert(kind: .notDraining, message:
                "\(ready) ready message(s) and the oldest message is \(DurationText.format(.milliseconds(age))) old (over \(DurationText.format(stallAfter(manifest)))): the backlog is not draining"))
        }
        let limit = manifest.maxLength * manifest.shards
        if manifest.maxLength > 0, Double(backlog) >= Double(limit) * nearlyFullShare {
            alerts.append(QueueAlert(kind: .nearlyFull, message: "backlog \(backlog) of max_length \(manifest.maxLength)\(manifest.shards > 1 ? " per shard" : ""): enqueues are refused at the limit"))
        }
        return alerts
    }
}
