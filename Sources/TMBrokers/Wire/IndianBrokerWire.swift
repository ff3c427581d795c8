import Foundation

/// What Kite and Upstox share on the wire: order words (`MARKET`, `SL-M`, `BUY`, `DAY`), their
/// order-status vocabulary, IST time stamps, whole-share quantities, and `net` position lines.
/// Each broker supplies a `Dialect` naming its fields; the reading is written once here.
///
/// Guarantees: status mapping is total (an unknown status is `open`, never terminal, so a live order
/// is not mistaken for a finished one); an average price is reported only once something filled.
enum IndianBrokerWire {
    /// The field names that differ between Kite and Upstox.
    struct Dialect: Sendable {
        let broker: BrokerKind
        /// Where the symbol the platform trades by is, in order of preference.
        let symbolFields: [String]
        /// Where a fill's time is, in order of preference.
        let fillTimeFields: [String]
        /// Where an order's last update time is, in order of preference.
        let updateTimeFields: [String]
    }

    static let sides: [String: OrderSide] = ["buy": .buy, "sell": .sell]
    /// Both brokers' product words. Kite: CNC, MIS, NRML, MTF, and the bracket/cover products that
    /// are squared off the same day; Upstox: D, I, MTF, and CO (cover).
    static let products: [String: ProductType] = [
        "cnc": .delivery, "d": .delivery, "mis": .intraday, "i": .intraday, "co": .intraday, "bo": .intraday,
        "nrml": .carryForward, "mtf": .margin,
    ]

    /// The symbol under the dialect's first field present.
    static func symbol(_ fields: JSONFields, _ dialect: Dialect) throws(BrokerError) -> String {
        for field in dialect.symbolFields.dropLast() {
            if let symbol = try fields.optionalText(field) { return symbol }
        }
        return try fields.text(dialect.symbolFields.last!)
    }

    /// The product word mapped; one neither broker documents is left out (nil), never guessed.
    static func product(_ fields: JSONFields) throws(BrokerError) -> ProductType? {
        try fields.optionalText("product").flatMap { products[$0.lowercased()] }
    }
    static let orderTypes: [String: OrderType] = ["market": .market, "limit": .limit, "sl": .stopLimit, "sl-m": .stop]

    static func orderTypeWord(_ type: OrderType) -> String {
        switch type {
        case .market: return "MARKET"
        case .limit: return "LIMIT"
        case .stop: return "SL-M"
        case .stopLimit: return "SL"
        }
    }

    static func sideWord(_ side: OrderSide) -> String { side == .buy ? "BUY" : "SELL" }

    /// `DAY` or `IOC`; neither broker has GTC or FOK for regular orders, so those are refused unsent.
    static func validityWord(_ timeInForce: TimeInForce, broker: BrokerKind) throws(BrokerError) -> String {
        switch timeInForce {
        case .day: return "DAY"
        case .ioc: return "IOC"
        case .gtc, .fok:
            throw .rejected(reason: "\(broker.rawValue) accepts only DAY or IOC validity, not \(timeInForce.rawValue)", code: "UNSUPPORTED_TIME_IN_FORCE")
        }
    }

    /// Indian equity quantities are whole shares.
    static func wholeQuantity(_ quantity: Decimal, broker: BrokerKind) throws(BrokerError) -> Decimal {
        var value = quantity
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 0, .plain)
        guard quantity > 0, rounded == quantity else {
            throw .rejected(reason: "\(broker.rawValue) quantities must be whole and positive", code: "INVALID_QUANTITY")
        }
        return quantity
    }

    /// The statuses of both brokers (Kite upper case, Upstox lower case) to the platform's.
    static func status(_ raw: String, filled: Decimal) -> BrokerOrderStatus {
        switch raw.lowercased() {
        case "complete": return .filled
        case "rejected": return .rejected
        case "cancelled", "cancelled after market order": return .cancelled
        case "expired", "lapsed": return .expired
        // OPEN, PUT ORDER REQ RECEIVED, VALIDATION PENDING, OPEN PENDING, TRIGGER PENDING, MODIFY/CANCEL
        // PENDING, AMO REQ RECEIVED, ... and anything new: still live.
        default: return filled > 0 ? .partiallyFilled : .open
        }
    }

    static func order(_ fields: JSONFields, _ dialect: Dialect) throws(BrokerError) -> BrokerOrder {
        let filled = try fields.optionalDecimal("filled_quantity") ?? 0
        let status = status(try fields.text("status"), filled: filled)
        let price = try fields.optionalDecimal("price")
        let trigger = try fields.optionalDecimal("trigger_price")
        let average = try fields.optionalDecimal("average_price")
        var updatedAt: Date?
        for field in dialect.updateTimeFields where updatedAt == nil {
            updatedAt = try fields.optionalDate(field, WireTime.indianLocal)
        }
        return BrokerOrder(
            brokerOrderID: try fields.text("order_id"),
            clientOrderID: try fields.optionalText("tag"),
            symbol: try symbol(fields, dialect),
            exchange: try fields.optionalText("exchange"),
            side: try fields.word("transaction_type", sides),
            type: try fields.word("order_type", orderTypes),
            quantity: try fields.decimal("quantity"),
            filledQuantity: filled,
            // Both report 0 until something fills.
            averagePrice: filled > 0 && average != 0 ? average : nil,
            limitPrice: price == 0 ? nil : price,
            status: status,
            rejectReason: status == .rejected || status == .cancelled ? try fields.optionalText("status_message") : nil,
            submittedAt: try fields.optionalDate("order_timestamp", WireTime.indianLocal),
            updatedAt: updatedAt,
            stopPrice: trigger == 0 ? nil : trigger,
            product: try product(fields),
            remainingQuantity: status == .open || status == .partiallyFilled ? try fields.optionalDecimal("pending_quantity") : 0)
    }

    static func trade(_ fields: JSONFields, _ dialect: Dialect) throws(BrokerError) -> BrokerTrade {
        var executedAt: Date?
        for field in dialect.fillTimeFields where executedAt == nil {
            executedAt = try fields.optionalDate(field, WireTime.indianLocal)
        }
        guard let executedAt else { throw fields.missing(dialect.fillTimeFields[0]) }
        return BrokerTrade(
            brokerTradeID: try fields.text("trade_id"),
            brokerOrderID: try fields.text("order_id"),
            symbol: try symbol(fields, dialect),
            exchange: try fields.optionalText("exchange"),
            side: try fields.word("transaction_type", sides),
            quantity: try fields.decimal("quantity"),
            price: try fields.decimal("average_price"),
            executedAt: executedAt,
            product: try product(fields))
    }

    /// One `net` line per product; `net` adds the products of one instrument together.
    /// A null `average_price` (Upstox's get-positions sample has it on lines made of the day's trades,
    /// whose `buy_price` is then the average: the doc states no rule, its sample's arithmetic does)
    /// means the average is the side's price: `buy_price` for a long line, `sell_price` for a short one.
    static func positionLine(_ fields: JSONFields, _ dialect: Dialect) throws(BrokerError) -> BrokerPosition {
        let quantity = try fields.decimal("quantity")
        var average = try fields.optionalDecimal("average_price")
        if average == nil, quantity != 0 {
            average = try fields.optionalDecimal(quantity > 0 ? "buy_price" : "sell_price")
        }
        let multiplier = try fields.optionalDecimal("multiplier") ?? 1
        guard multiplier > 0 else { throw fields.malformed("multiplier", "a positive number") }
        return BrokerPosition(
            symbol: try symbol(fields, dialect),
            exchange: try fields.optionalText("exchange"),
            quantity: quantity,
            averagePrice: average ?? 0,
            lastPrice: try fields.optionalDecimal("last_price"),
            realizedPnl: try fields.optionalDecimal("realised"),
            unrealizedPnl: try fields.optionalDecimal("unrealised"),
            multiplier: multiplier)
    }

    /// Lines of the same instrument (one per product, e.g. CNC and MIS) as one position, because the
    /// platform keeps one position per (exchange, symbol): quantities and P&L add up, the average
    /// price is the quantity-weighted one, and a flat position has average price 0.
    static func net(_ lines: [BrokerPosition]) -> [BrokerPosition] {
        var order: [String] = []
        var merged: [String: BrokerPosition] = [:]
        var costs: [String: Decimal] = [:]
        for line in lines {
            let key = "\(line.exchange ?? "")|\(line.symbol)"
            let cost = line.quantity * line.averagePrice
            if var existing = merged[key] {
                existing.quantity += line.quantity
                existing.lastPrice = line.lastPrice ?? existing.lastPrice
                existing.realizedPnl = sum(existing.realizedPnl, line.realizedPnl)
                existing.unrealizedPnl = sum(existing.unrealizedPnl, line.unrealizedPnl)
                merged[key] = existing
                costs[key, default: 0] += cost
            } else {
                order.append(key)
                merged[key] = line
                costs[key] = cost
            }
        }
        return order.map { key in
            var position = merged[key]!
            position.averagePrice = position.quantity == 0 ? 0 : abs(costs[key]! / position.quantity)
            return position
        }
    }

    private static func sum(_ a: Decimal?, _ b: Decimal?) -> Decimal? {
        switch (a, b) {
        case (nil, nil): return nil
        default: return (a ?? 0) + (b ?? 0)
        }
    }
}

/// Kite and Upstox list only the day's trades, so every sync returns all of them (the sync upserts
/// by trade id, so repeats cost nothing): a fill reported late with an earlier exchange time, or a
/// trade the broker corrected, is never skipped by a time cursor. The cursor keeps the last fill
/// time seen, for operators.
enum DayTradeCursor {
    static let key = "last_fill_ms"

    static func batch(_ trades: [BrokerTrade], since cursor: TradeCursor) -> TradeBatch {
        let sorted = trades.sorted { ($0.executedAt, $0.brokerTradeID) < ($1.executedAt, $1.brokerTradeID) }
        var next = cursor
        if let last = sorted.last {
            let seen = WireTime.milliseconds(last.executedAt)
            next.values[key] = String(max(seen, cursor.values[key].flatMap(Int64.init) ?? seen))
        }
        return TradeBatch(trades: sorted, next: next)
    }
}
