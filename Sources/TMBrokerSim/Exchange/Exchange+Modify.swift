import Foundation

/// Why a modification was refused; each front end turns it into its broker's error shape.
public enum ModifyRejection: Error, Sendable, Equatable {
    case notFound
    case notWorking(SimOrderStatus)
    /// The new total quantity must stay above what already filled.
    case quantityNotAboveFilled(filled: Decimal)
    /// The changed order breaks a rule a new order would (lot, tick, price).
    case invalid(PlacementRejection)
}

extension Exchange {
    /// Changes a working order in place, as Kite and Upstox modify: same id, same tag, fills kept; a
    /// nil argument keeps what the order had. The changed order is matched at once like a new one (a
    /// market order fills what remains; a crossing limit what the tick's liquidity allows).
    public func modify(_ broker: Broker, apiKey: String, orderID: String, quantity: Decimal?, type: SimOrderType?,
                       limitPrice: Decimal?, timeInForce: String?) throws(ModifyRejection) -> SimOrder {
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard let index = accounts[key]?.orderIndex[orderID] else { throw .notFound }
        let old = accounts[key]!.orders[index]
        guard old.status.isWorking else { throw .notWorking(old.status) }
        var ticket = old.ticket
        ticket.quantity = quantity ?? ticket.quantity
        ticket.type = type ?? ticket.type
        ticket.limitPrice = ticket.type == .limit ? (limitPrice ?? ticket.limitPrice) : nil
        ticket.timeInForce = timeInForce ?? ticket.timeInForce
        guard ticket.quantity > old.filledQuantity else { throw .quantityNotAboveFilled(filled: old.filledQuantity) }
        guard ticket.quantity.isMultiple(of: old.instrument.lotSize) else { throw .invalid(.notLotMultiple(lotSize: old.instrument.lotSize)) }
        if ticket.type == .limit {
            guard let limit = ticket.limitPrice else { throw .invalid(.missingLimitPrice) }
            guard limit > 0 else { throw .invalid(.nonPositivePrice) }
            guard limit.isMultiple(of: old.instrument.tickSize) else { throw .invalid(.notTickMultiple(tickSize: old.instrument.tickSize)) }
        }
        let time = now()
        // The ticket is fixed for an order's life, so the changed order is a copy with everything else kept.
        var changed = SimOrder(id: old.id, number: old.number, ticket: ticket, instrument: old.instrument, createdAt: old.createdAt,
                               updatedAt: time)
        changed.filledQuantity = old.filledQuantity
        changed.filledValue = old.filledValue
        changed.status = old.status
        changed.statusMessage = old.statusMessage
        changed.lastFillTick = old.lastFillTick
        // In place (`accounts[key]!`): a copy of the account would copy its whole book.
        accounts[key]!.updateOrder(index) { $0 = changed }
        let market = prices.price(of: changed.instrument, at: time)
        let crosses = ticket.limitPrice.map { changed.side == .buy ? market <= $0 : market >= $0 } ?? true
        if crosses {
            let remaining = changed.quantity - changed.filledQuantity
            let quantity = ticket.type == .market ? remaining : min(remaining, liquidity[liquidityKey(changed.instrument)] ?? remaining)
            fill(&accounts[key]!, index: index, quantity: quantity, price: market, at: time, isMaker: false)
            accounts[key]!.updateOrder(index) { $0.lastFillTick = tick(time) }
        }
        return accounts[key]!.orders[index]
    }
}
