import Foundation
import TMBrokers
import TMCore
import TMRisk
import Testing

/// The working-order ledger's aggregates when an order is put again under its id (a restore or a
/// partial fill): its previous version is taken out of every aggregate first, also when it moved to
/// another instrument.
@Suite struct WorkingOrderLedgerTests {
    static let now = Date(timeIntervalSince1970: 1_780_000_000)
    static let infy = InstrumentKey(symbol: "INFY", exchange: "NSE")
    static let tcs = InstrumentKey(symbol: "TCS", exchange: "NSE")

    static func order(_ instrument: InstrumentKey, quantity: FixedDecimal) -> WorkingOrder {
        WorkingOrder(id: "o1", instrument: instrument, side: .buy, remainingQuantity: quantity, limitPrice: 100, reservePrice: 100,
                     reducesExposure: false, submittedAt: now)
    }

    @Test func restoringUnderTheSameIDReplacesTheOrderInEveryAggregate() {
        var account = AccountRisk()
        account.restore(Self.order(Self.infy, quantity: 10))
        account.restore(Self.order(Self.infy, quantity: 4))
        #expect(account.working(Self.infy, side: .buy) == 4)
        #expect(account.turnoverReserved == 400)
        #expect(account.workingOrders(of: Self.infy).map(\.remainingQuantity) == [4])

        account.restore(Self.order(Self.tcs, quantity: 3))
        #expect(account.working(Self.infy, side: .buy) == 0)
        #expect(account.workingOrders(of: Self.infy).isEmpty, "the order left INFY")
        #expect(account.working(Self.tcs, side: .buy) == 3)
        #expect(account.workingOrders(of: Self.tcs).map(\.id) == ["o1"])
        #expect(account.turnoverReserved == 300)
        #expect(account.workingOrders.count == 1)

        account.release(id: "o1")
        #expect(account.workingOrders.isEmpty && account.turnoverReserved == 0 && account.working(Self.tcs, side: .buy) == 0)
        #expect(account.workingOrders(of: Self.tcs).isEmpty)
    }

    /// The self-trade check's look-up: the matching order with the smallest id, as the sorted list gives.
    @Test func firstWorkingOrderIsTheSortedListsFirstMatch() {
        var account = AccountRisk()
        for index in (0..<60).reversed() {
            account.restore(WorkingOrder(id: "o\(index < 10 ? "0" : "")\(index)", instrument: Self.infy, side: index % 2 == 0 ? .buy : .sell,
                                         remainingQuantity: 1, limitPrice: FixedDecimal(100 + index % 7), reservePrice: 100,
                                         reducesExposure: false, submittedAt: Self.now))
        }
        let matchers: [(WorkingOrder) -> Bool] = [{ _ in true }, { $0.side == .sell }, { $0.side == .buy }, { _ in false }]
            + (100...106).map { price in { $0.limitPrice == FixedDecimal(price) } }
            + (100...106).map { price in { $0.side == .sell && $0.limitPrice! >= FixedDecimal(price) } }
        for matches in matchers {
            #expect(account.firstWorkingOrder(of: Self.infy, where: matches) == account.workingOrders(of: Self.infy).first(where: matches))
        }
        #expect(account.firstWorkingOrder(of: Self.tcs) { _ in true } == nil)
    }
}
