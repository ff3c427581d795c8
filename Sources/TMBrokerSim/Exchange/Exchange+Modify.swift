import Foundation

/// Why a modification of a working order was refused.
public enum ModifyRejection: Error, Sendable, Equatable {
    case notFound
    case notWorking(SimOrderStatus)
    /// The new quantity or price fails the checks a placement passes.
    case invalid(PlacementRejection)
    /// The new quantity is below what already filled.
    case belowFilled(Decimal)
}

extension Exchange {
    /// Changes a working order's quantity and limit price, as the brokers' modify does.
    ///
    /// Guarantees: the new values pass the placement checks (lot, tick, positive); the quantity is
    /// never below what already filled (an order modified down to its filled quantity is filled);
    /// the order keeps its id, client id and fills; a limit that now crosses fills at the next
    /// matching tick, as any resting order does.
    public func modify(_ broker: Broker, apiKey: String, orderID: String, quantity: Decimal,
                       limitPrice: Decimal?) throws(ModifyRejection) -> SimOrder {
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard let index = accounts[key]?.orderIndex[orderID] else { throw .notFound }
        let order = accounts[key]!.orders[index]
        guard order.status.isWorking else { throw .notWorking(order.status) }
        guard quantity > 0 else { throw .invalid(.nonPositiveQuantity) }
        guard quantity.isMultiple(of: order.instrument.lotSize) else { throw .invalid(.notLotMultiple(lotSize: order.instrument.lotSize)) }
        guard quantity >= order.filledQuantity else { throw .belowFilled(order.filledQuantity) }
        var ticket = order.ticket
        ticket.quantity = quantity
        if ticket.type == .limit {
            guard let limitPrice else { throw .invalid(.missingLimitPrice) }
            guard limitPrice > 0 else { throw .invalid(.nonPositivePrice) }
            guard limitPrice.isMultiple(of: order.instrument.tickSize) else { throw .invalid(.notTickMultiple(tickSize: order.instrument.tickSize)) }
            ticket.limitPrice = limitPrice
        }
        let time = now()
        let filled = order.filledQuantity >= quantity
        let modified = SimOrder(id: order.id, number: order.number, ticket: ticket, instrument: order.instrument,
                                filledQuantity: order.filledQuantity, filledValue: order.filledValue,
                                status: filled ? .filled : order.status, statusMessage: order.statusMessage,
                                createdAt: order.createdAt, updatedAt: time, filledAt: filled ? time : order.filledAt,
                                cancelledAt: order.cancelledAt, lastFillTick: order.lastFillTick)
        accounts[key]!.orders[index] = modified
        return modified
    }
}
