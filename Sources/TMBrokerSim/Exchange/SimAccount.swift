import Foundation

/// One account's book: its orders and trades, in the order they happened.
///
/// Guarantees: the indexes always agree with `orders`, because orders are only added by `append`
/// and only changed through `updateOrder`: `orderIndex` finds an order by id, `clientOrderIndex` the
/// orders carrying a client id (a ticket's client id never changes), and `resting` holds exactly the
/// indices of the working limit orders, so matching never looks at the rest of the book.
struct SimAccount {
    var credentials: SimCredentials
    private(set) var orders: [SimOrder] = []
    private(set) var orderIndex: [String: Int] = [:]
    /// Indices of the orders with each client order id, oldest first.
    private(set) var clientOrderIndex: [String: [Int]] = [:]
    /// Indices of the working limit orders.
    private(set) var resting: Set<Int> = []
    var trades: [SimTrade] = []
    var nextTradeNumber = 1

    init(credentials: SimCredentials) { self.credentials = credentials }

    /// Adds an order to the book; returns its index.
    mutating func append(_ order: SimOrder) -> Int {
        let index = orders.count
        orders.append(order)
        orderIndex[order.id] = index
        if let clientID = order.clientOrderID { clientOrderIndex[clientID, default: []].append(index) }
        noteResting(index)
        return index
    }

    /// Changes the order at `index` in place (the book is never copied).
    mutating func updateOrder<T>(_ index: Int, _ body: (inout SimOrder) throws -> T) rethrows -> T {
        defer { noteResting(index) }
        return try body(&orders[index])
    }

    /// The orders carrying `clientID`, oldest first.
    func orders(clientOrderID clientID: String) -> [SimOrder] {
        clientOrderIndex[clientID]?.map { orders[$0] } ?? []
    }

    private mutating func noteResting(_ index: Int) {
        let order = orders[index]
        if order.status.isWorking && order.ticket.type == .limit { resting.insert(index) } else { resting.remove(index) }
    }
}
