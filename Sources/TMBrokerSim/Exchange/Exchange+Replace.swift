import Foundation

/// Why a replace was refused: the old order (not found, no longer working) or the new one.
public enum ReplaceRejection: Error, Sendable, Equatable {
    case cancel(CancelRejection)
    case placement(PlacementRejection)
}

extension Exchange {
    /// Replaces a working order by a new one, as Alpaca's `PATCH /v2/orders/{order_id}` does: the new
    /// order (own id, `ticket`'s client id) is placed and matched like any order; the old one is
    /// cancelled and names the new one in `replacedBy`.
    ///
    /// Guarantees: the old order cannot fill once the replace has begun (it is taken off the book
    /// first); a refused replacement puts the old order back exactly as it was, so it either stays
    /// working or is replaced, never both nor neither.
    public func replace(_ broker: Broker, apiKey: String, orderID: String, with ticket: OrderTicket,
                        clientIDRule: ClientIDRule) throws(ReplaceRejection) -> SimOrder {
        let key = AccountKey(broker: broker, apiKey: apiKey)
        lock.lock()
        guard let index = accounts[key]?.orderIndex[orderID] else {
            lock.unlock()
            throw .cancel(.notFound)
        }
        let before = accounts[key]!.orders[index]
        guard before.status.isWorking else {
            lock.unlock()
            throw .cancel(.notWorking(before.status))
        }
        let time = now()
        accounts[key]!.updateOrder(index) { order in
            order.status = .cancelled
            order.updatedAt = time
            order.cancelledAt = time
        }
        lock.unlock()
        let replacement: SimOrder
        do {
            replacement = try place(broker, apiKey: apiKey, ticket, clientIDRule: clientIDRule)
        } catch {
            locked { accounts[key]!.updateOrder(index) { $0 = before } }
            throw .placement(error)
        }
        return locked {
            accounts[key]!.updateOrder(index) { $0.replacedBy = replacement.id }
            let newIndex = accounts[key]!.orderIndex[replacement.id]!
            return accounts[key]!.updateOrder(newIndex) { order in
                order.replaces = orderID
                return order
            }
        }
    }
}
