/// Runs work of the same key one at a time, in the order it was admitted; different keys run at
/// once. A queue consumer admits deliveries in stream order (one loop), so messages of one account
/// run in the order they were enqueued while other accounts' messages run beside them.
///
/// Guarantees: `admit` is synchronous and fixes the order; `run` starts a ticket's work only after
/// every earlier ticket of its key has finished (or been abandoned by cancellation), and always
/// passes the turn on, whatever the work throws.
public final class SerialLanes: Sendable {
    public struct Ticket: Sendable {
        public let key: String
        let number: Int
    }

    private struct Lane {
        var next = 0
        var turn = 0
        var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let lanes = Locked<[String: Lane]>([:])

    public init() {}

    public func admit(_ key: String) -> Ticket {
        lanes.withLock { lanes in
            let number = lanes[key, default: Lane()].next
            lanes[key, default: Lane()].next += 1
            return Ticket(key: key, number: number)
        }
    }

    public func run<T>(_ ticket: Ticket, _ work: () async throws -> T) async rethrows -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = lanes.withLock { lanes -> Bool in
                if lanes[ticket.key]?.turn == ticket.number { return true }
                lanes[ticket.key]?.waiting[ticket.number] = continuation
                return false
            }
            if ready { continuation.resume() }
        }
        defer { pass(ticket) }
        return try await work()
    }

    /// The ticket's work is over: the next ticket of its key may start (the lane goes when empty).
    private func pass(_ ticket: Ticket) {
        let next = lanes.withLock { lanes -> CheckedContinuation<Void, Never>? in
            guard var lane = lanes[ticket.key] else { return nil }
            lane.turn += 1
            if lane.turn == lane.next {
                lanes[ticket.key] = nil
                return nil
            }
            let waiter = lane.waiting.removeValue(forKey: lane.turn)
            lanes[ticket.key] = lane
            return waiter
        }
        next?.resume()
    }

    /// Keys with work admitted and not finished (for tests and metrics).
    public var activeKeys: Int { lanes.withLock { $0.count } }
}
