import Foundation
import TMCore
import TMQueue

/// Each `orders` message parsed once per delivery: the consumer asks for its ordering key (the
/// account) when it admits the delivery, and the placer needs the same command when the delivery
/// runs — the parse made for the key is kept for the handler.
///
/// Guarantees: the key is the one `OrderWorker.account(of:)` gives (a command that does not parse
/// falls back to it, so its message is still ordered by whatever account it names); `take` returns
/// the command parsed from this delivery's payload, or parses it again when none is kept (a
/// delivery admitted before a restart of the cache, or past `capacity`) — never another message's.
final class ParsedCommands: Sendable {
    private let kept = Locked<[String: Result<OrderCommand, OrderCommandError>]>([:])
    /// Deliveries admitted but never run (a consumer stopped with them queued) are dropped past this.
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    /// The delivery's ordering key; its parse is kept for `take`.
    func key(of delivery: Delivery) -> String? {
        let parsed = Result { () throws(OrderCommandError) in try OrderCommand.parse(delivery.payload) }
        kept.withLock { kept in
            if kept.count >= capacity { kept.removeAll(keepingCapacity: true) }
            kept[delivery.id] = parsed
        }
        guard case .success(let command) = parsed else { return OrderWorker.account(of: delivery.payload) }
        return UUIDText.lower(command.accountID)
    }

    /// The delivery's command (or why it is no command), parsed when it was admitted (or now).
    func take(_ delivery: Delivery) -> Result<OrderCommand, OrderCommandError> {
        kept.withLock { $0.removeValue(forKey: delivery.id) } ?? Result { () throws(OrderCommandError) in try OrderCommand.parse(delivery.payload) }
    }

    /// Commands kept now (for tests).
    var count: Int { kept.withLock { $0.count } }
}
