import Foundation
import TMCore

/// What tests and the benchmark do to the exchange directly: pin prices, limit liquidity, fill or
/// correct by hand, seed history, reset.
extension Exchange {
    /// Pins the instrument's price (until `unpinAllPrices`); false when the broker does not list it.
    public func pinPrice(_ broker: Broker, _ symbol: String, _ price: Decimal) -> Bool {
        guard let instrument = catalog.instrument(broker, symbol) else { return false }
        locked { prices.pin(instrument, at: price) }
        return true
    }

    public func unpinAllPrices() { locked { prices.unpinAll() } }

    /// Limits how much of a resting order fills per tick (nil: no limit); false for an unknown symbol.
    public func setLiquidity(_ broker: Broker, _ symbol: String, _ quantity: Decimal?) -> Bool {
        guard let instrument = catalog.instrument(broker, symbol) else { return false }
        locked { liquidity[liquidityKey(instrument)] = quantity }
        return true
    }

    /// Fills `quantity` (default: all that remains) of a working order at `price` (default: the market).
    public func adminFill(_ broker: Broker, apiKey: String, orderID: String, quantity: Decimal?, price: Decimal?) throws(AdminRejection) -> SimOrder {
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard var account = accounts[key] else { throw AdminRejection(status: 404, field: "api_key", reason: "no such account") }
        guard let index = account.orderIndex[orderID] else { throw AdminRejection(status: 404, field: "order_id", reason: "no such order") }
        let order = account.orders[index]
        guard order.status.isWorking else { throw AdminRejection(field: "order_id", reason: "order is \(order.status.rawValue), not working") }
        let amount = quantity ?? order.remainingQuantity
        guard amount > 0, amount <= order.remainingQuantity else {
            throw AdminRejection(field: "quantity", reason: "must be > 0 and at most the remaining \(DecimalText.plain(order.remainingQuantity))")
        }
        let time = now()
        let fillPrice = price ?? prices.price(of: order.instrument, at: time)
        guard fillPrice > 0 else { throw AdminRejection(field: "price", reason: "must be > 0") }
        fill(&account, index: index, quantity: amount, price: fillPrice, at: time, isMaker: true)
        accounts[key] = account
        return account.orders[index]
    }

    /// The broker corrects a trade: new price, quantity or fee; the order's fill totals follow.
    public func correctTrade(_ broker: Broker, apiKey: String, tradeID: String, price: Decimal?, quantity: Decimal?, fee: Decimal?) throws(AdminRejection) -> SimTrade {
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard var account = accounts[key] else { throw AdminRejection(status: 404, field: "api_key", reason: "no such account") }
        guard let tradeIndex = account.trades.firstIndex(where: { $0.id == tradeID }) else {
            throw AdminRejection(status: 404, field: "trade_id", reason: "no such trade")
        }
        if let price, price <= 0 { throw AdminRejection(field: "price", reason: "must be > 0") }
        if let quantity, quantity <= 0 { throw AdminRejection(field: "quantity", reason: "must be > 0") }
        if let fee, fee < 0 { throw AdminRejection(field: "fee", reason: "must be >= 0") }
        var trade = account.trades[tradeIndex]
        trade.price = price ?? trade.price
        trade.quantity = quantity ?? trade.quantity
        trade.fee = fee ?? trade.fee
        let orderIndex = account.orderIndex[trade.orderID]!
        let siblings = account.trades.enumerated().filter { $0.element.orderID == trade.orderID && $0.offset != tradeIndex }.map(\.element)
        let filled = siblings.reduce(trade.quantity) { $0 + $1.quantity }
        guard filled <= account.orders[orderIndex].quantity else {
            throw AdminRejection(field: "quantity", reason: "the order's fills would exceed its quantity")
        }
        account.trades[tradeIndex] = trade
        let time = now()
        account.updateOrder(orderIndex) { order in
            order.filledQuantity = filled
            order.filledValue = siblings.reduce(trade.quantity * trade.price) { $0 + $1.quantity * $1.price }
            if order.status.isWorking || order.status == .filled {
                order.status = filled >= order.quantity ? .filled : .partiallyFilled
            }
            order.updatedAt = time
        }
        accounts[key] = account
        return trade
    }

    /// Adds `count` filled market orders (one trade each) spread over the last `count` × 30 s of the
    /// exchange's clock, in `symbols` round-robin (default: every instrument of the broker); sides
    /// buy, buy, sell, ... Kite and Upstox list only the day's trades (India's day), so their history
    /// stays within the current Indian day, packed closer when the day has only just begun: a seeded
    /// account's trades are all listed, at any hour.
    public func seedTrades(_ broker: Broker, apiKey: String, count: Int, symbols: [String]) throws(AdminRejection) -> Int {
        let instruments = symbols.isEmpty ? catalog.instruments(broker) : try symbols.map { symbol throws(AdminRejection) in
            guard let found = catalog.instrument(broker, symbol) else { throw AdminRejection(field: "symbols", reason: "unknown symbol \(symbol) at \(broker.rawValue)") }
            return found
        }
        guard !instruments.isEmpty else { throw AdminRejection(field: "symbols", reason: "no instruments") }
        lock.lock()
        defer { lock.unlock() }
        let key = AccountKey(broker: broker, apiKey: apiKey)
        guard var account = accounts[key] else { throw AdminRejection(status: 404, field: "api_key", reason: "no such account") }
        let end = now()
        let earliest = broker == .kite || broker == .upstox ? Timestamps.startOfIndianDay(end) : .distantPast
        let spacing = min(30, end.timeIntervalSince(earliest) / Double(max(count, 1)))
        for i in 0..<count {
            let instrument = instruments[i % instruments.count]
            let time = max(end.addingTimeInterval(-Double(count - i) * spacing), earliest)
            let number = nextOrderNumber
            nextOrderNumber += 1
            let ticket = OrderTicket(symbol: instrument.symbol, side: i % 3 == 2 ? .sell : .buy, type: .market,
                                     quantity: instrument.lotSize * Decimal(1 + i % 5), clientOrderID: "seed\(number)",
                                     product: broker == .kite ? "CNC" : (broker == .upstox ? "D" : ""), variety: broker == .kite ? "regular" : "")
            let order = SimOrder(id: Identifiers.orderID(broker, number: number, apiKey: apiKey), number: number, ticket: ticket,
                                 instrument: instrument, createdAt: time, updatedAt: time)
            let index = account.append(order)
            fill(&account, index: index, quantity: order.quantity, price: prices.price(of: instrument, at: time), at: time, isMaker: false)
        }
        accounts[key] = account
        return count
    }

    /// Forgets every order and trade, pinned price and liquidity limit; accounts stay, tokens valid again.
    public func reset() {
        locked {
            for key in accounts.all.keys {
                var fresh = SimAccount(credentials: accounts[key]!.credentials)
                fresh.credentials.tokenValid = true
                accounts[key] = fresh
            }
            prices.unpinAll()
            liquidity.removeAll()
        }
    }
}
