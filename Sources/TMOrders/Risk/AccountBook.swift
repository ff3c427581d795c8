import Foundation
import TMBrokers
import TMCore
import TMRisk

/// One account as the risk book holds it: the engine's `AccountRisk`, the limits that apply, the
/// funds per currency, today's fills per instrument (for the P&L as prices move) and the recent
/// average trade. Only touched under the book's lock.
final class AccountBook {
    let id: UUID
    let user: UUID
    var risk = AccountRisk()
    var limits = RiskLimits()
    var funds: [String: FundsLine] = [:]
    var day: [InstrumentKey: DayFlow] = [:]
    /// The price epoch `risk.dailyPnl` was valued at (nil: a fill since; value it again).
    var pnlEpoch: UInt64?
    var tradeCount = 0
    var tradeValue: FixedDecimal = 0
    /// tradeValue / tradeCount, worked out when they change (a division is slow; checks are many).
    private(set) var averageTradeValue: FixedDecimal?

    init(_ rows: AccountRows, instruments: [InstrumentKey: InstrumentListing], prices: [InstrumentKey: FixedDecimal], now: Date) {
        id = rows.id
        user = rows.user
        funds = rows.funds
        day = rows.day
        tradeCount = rows.tradeCount
        tradeValue = rows.tradeValue
        risk.turnoverFilled = day.values.reduce(0) { $0 + $1.boughtValue + $1.soldValue }
        risk.positions = rows.positions
        risk.positionsAsOf = rows.positionsAsOf
        risk.fundsAsOf = rows.fundsAsOf
        // The reservations of the orders still open, in the order they were placed: each one's
        // "reduces the position" is judged as the engine judged it, with the ones before it working.
        let engine = RiskEngine()
        for row in rows.working {
            let multiplier = instruments[row.instrument]?.rules.multiplier ?? 1
            let intent = OrderIntent(symbol: row.instrument.symbol, exchange: row.instrument.exchange, side: row.side, quantity: row.remaining,
                                     type: row.limitPrice == nil ? .market : .limit, limitPrice: row.limitPrice)
            let reduces = engine.reducesExposure(intent, position: risk.position(row.instrument), account: risk)
            risk.restore(WorkingOrder(id: UUIDText.upper(row.id), instrument: row.instrument, side: row.side, remainingQuantity: row.remaining,
                                      limitPrice: row.limitPrice, reservePrice: row.reservePrice ?? prices[row.instrument] ?? 0,
                                      multiplier: multiplier, reducesExposure: reduces, submittedAt: row.submittedAt ?? now))
        }
        updateAverage()
    }

    /// Sets what a check of an order in `currency` needs: that currency's buying power and equity,
    /// and today's P&L at the current prices.
    func prepare(currency: String?, prices: [InstrumentKey: FixedDecimal], epoch: UInt64) {
        let line = currency.flatMap { funds[$0] }
        risk.buyingPower = line?.available
        risk.equity = line?.total
        valueDay(prices: prices, epoch: epoch)
    }

    /// Why an order in `currency` has no buying power when funds were read, but none in that
    /// currency (nil when no funds were read at all: the engine's own words say so).
    func missingFunds(currency: String?) -> String? {
        guard !funds.isEmpty else { return nil }
        let held = funds.keys.sorted().joined(separator: ", ")
        guard let currency else { return "the instrument's currency is not known; the account's funds are in \(held)" }
        return "the account has no funds in \(currency), the instrument's currency (its funds are in \(held))"
    }

    /// Values today's P&L at the current prices (once per price epoch).
    func valueDay(prices: [InstrumentKey: FixedDecimal], epoch: UInt64) {
        guard pnlEpoch != epoch else { return }
        risk.dailyPnl = day.reduce(0) { $0 + $1.value.pnl(last: prices[$1.key]) }
        pnlEpoch = epoch
    }

    func fill(id: String, instrument: InstrumentKey, side: OrderSide, quantity: FixedDecimal, price: FixedDecimal, multiplier: FixedDecimal) {
        risk.fill(id: id, instrument: instrument, side: side, quantity: quantity, price: price, multiplier: multiplier)
        let value = quantity * price * multiplier
        day[instrument, default: DayFlow(multiplier: multiplier)].add(side: side, quantity: quantity, value: value)
        pnlEpoch = nil
        tradeCount += 1
        tradeValue += value
        updateAverage()
    }

    private func updateAverage() {
        guard tradeCount > 0 else { return averageTradeValue = nil }
        averageTradeValue = FixedDecimal(DecimalText.fixed(tradeValue.decimal / Decimal(tradeCount), scale: FixedDecimal.scale))
    }
}
