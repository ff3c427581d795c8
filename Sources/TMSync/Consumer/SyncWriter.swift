import Foundation
import TMBrokers
import TMPostgres

/// Applies one sync's fetched data inside its (fenced) transaction.
struct SyncWriter {
    let db: PostgresConnection
    let account: BrokerAccount

    /// A trade this sync created or changed, for `trade-events`.
    struct ChangedTrade: Sendable {
        let id: UUID
        let trade: BrokerTrade
        let created: Bool
        /// The row's version (its transaction id): every correction of a trade gets its own event
        /// key, even one that restores an earlier value.
        let version: String
        var revision: String { created ? "c" : "u-\(version)" }
    }

    func apply(orders: [BrokerOrder], trades batch: TradeBatch, positions: [BrokerPosition], logID: Int64,
               duration: Duration) throws -> (SyncConsumer.SyncReport, [ChangedTrade]) {
        var report = SyncConsumer.SyncReport()
        var changed: [ChangedTrade] = []
        report.fetched = batch.trades.count
        changed = try upsert(batch.trades)
        report.created = changed.filter(\.created).count
        report.updated = changed.count - report.created
        report.skipped = Set(batch.trades.map(\.brokerTradeID)).count - changed.count
        try recordEvents(changed)
        report.ordersUpdated = try updateOrders(orders)
        report.positions = try replacePositions(positions)
        try SyncLog.finish(db, logID: logID, report: report, duration: duration)
        let cursor = String(decoding: try JSONEncoder().encode(batch.next.values), as: UTF8.self)
        try db.execute("""
            UPDATE broker_accounts SET sync_cursor = \(cursor)::jsonb, last_sync_at = now(), last_sync_outcome = 'ok',
              consecutive_failures = 0, error_reason = NULL WHERE id = \(account.id)
            """)
        return (report, changed)
    }

    /// Writes the `trade-events` messages of this sync into the outbox, in the sync's transaction:
    /// they exist exactly when the trades they announce do.
    func recordEvents(_ changed: [ChangedTrade]) throws {
        for start in stride(from: 0, to: changed.count, by: 200) {
            var binds: [PostgresData?] = [account.id.postgresData()]
            var rows: [String] = []
            for trade in changed[start..<min(start + 200, changed.count)] {
                let event = TradeEvent(trade, account: account)
                binds += [event.key.postgresData(), String(decoding: try JSONEncoder().encode(event), as: UTF8.self).postgresData()]
                rows.append("($1, $\(binds.count - 1), $\(binds.count)::jsonb)")
            }
            try db.execute(PostgresQuery(
                unsafeSQL: "INSERT INTO trade_event_outbox (account_id, event_key, payload) VALUES \(rows.joined(separator: ", ")) ON CONFLICT (event_key) DO NOTHING",
                binds: binds))
        }
    }

    /// The exchange to record when the broker names none (Alpaca, Binance).
    var defaultExchange: String {
        switch account.broker {
        case .kite, .upstox: return "NSE"
        case .alpaca: return "US"
        case .binance: return "BINANCE"
        }
    }

    /// Inserts new trades, updates corrected ones and leaves unchanged ones alone, in one statement
    /// per 200 trades (a sync's trades cost one round trip, not one each). Returns what changed.
    func upsert(_ trades: [BrokerTrade]) throws -> [ChangedTrade] {
        // A trade listed twice by the broker counts once (its last version): one statement may not
        // touch a row twice.
        var latest: [String: BrokerTrade] = [:]
        var order: [String] = []
        for trade in trades {
            if latest.updateValue(trade, forKey: trade.brokerTradeID) == nil { order.append(trade.brokerTradeID) }
        }
        let unique = order.map { latest[$0]! }
        var changed: [ChangedTrade] = []
        for start in stride(from: 0, to: unique.count, by: 200) {
            let chunk = Array(unique[start..<min(start + 200, unique.count)])
            var binds: [PostgresData?] = [account.id.postgresData()]
            var rows: [String] = []
            for trade in chunk {
                let base = binds.count
                rows.append("($\(base + 1)::text, $\(base + 2)::text, $\(base + 3)::text, $\(base + 4)::text, $\(base + 5)::text, $\(base + 6)::text, "
                            + "$\(base + 7)::numeric, $\(base + 8)::numeric, $\(base + 9)::numeric, $\(base + 10)::text, $\(base + 11)::timestamptz)")
                binds += [
                    trade.brokerTradeID.postgresData(), trade.brokerOrderID.postgresData(), trade.clientOrderID?.postgresData(),
                    trade.symbol.postgresData(), (trade.exchange ?? defaultExchange).postgresData(), trade.side.rawValue.postgresData(),
                    trade.quantity.postgresData(), trade.price.postgresData(), trade.fee.postgresData(), trade.feeCurrency?.postgresData(),
                    trade.executedAt.postgresData(),
                ]
            }
            let sql = """
                WITH incoming (broker_trade_id, broker_order_id, client_order_id, symbol, exchange, side, quantity, price, fees, fee_currency, traded_at)
                  AS (VALUES \(rows.joined(separator: ", ")))
                INSERT INTO trades (account_id, order_id, broker_trade_id, broker_order_id, symbol, exchange, side, quantity, price, fees, fee_currency, traded_at)
                SELECT $1, (SELECT o.id FROM orders o WHERE o.account_id = $1
                              AND (o.broker_order_id = i.broker_order_id OR o.client_order_id = i.client_order_id) LIMIT 1),
                       i.broker_trade_id, i.broker_order_id, i.symbol, i.exchange, i.side, i.quantity, i.price, i.fees, i.fee_currency, i.traded_at
                FROM incoming i
                ON CONFLICT (account_id, broker_trade_id) DO UPDATE SET
                  quantity = EXCLUDED.quantity, price = EXCLUDED.price, fees = EXCLUDED.fees, fee_currency = EXCLUDED.fee_currency,
                  traded_at = EXCLUDED.traded_at, side = EXCLUDED.side, order_id = coalesce(trades.order_id, EXCLUDED.order_id)
                WHERE (trades.quantity, trades.price, trades.fees, trades.fee_currency, trades.traded_at, trades.side)
                      IS DISTINCT FROM (EXCLUDED.quantity, EXCLUDED.price, EXCLUDED.fees, EXCLUDED.fee_currency, EXCLUDED.traded_at, EXCLUDED.side)
                RETURNING id, broker_trade_id, (xmax = 0) AS created, xmin::text AS version
                """
            for row in try db.query(PostgresQuery(unsafeSQL: sql, binds: binds)).rows {
                let id: String = try row.decode("broker_trade_id")
                changed.append(ChangedTrade(id: try row.decode("id"), trade: latest[id]!, created: try row.decode("created"),
                                            version: try row.decode("version")))
            }
        }
        return changed
    }

    /// Moves the platform's own open orders to the fill state the broker reports; never backwards,
    /// never out of a terminal state. Returns how many orders changed.
    func updateOrders(_ orders: [BrokerOrder]) throws -> Int {
        guard !orders.isEmpty else { return 0 }
        let open = try db.query("""
            SELECT id, client_order_id, broker_order_id, quantity, filled_quantity, average_price, state FROM orders
            WHERE account_id = \(account.id) AND origin = 'platform'
              AND state IN ('SUBMITTING', 'ACCEPTED', 'PARTIALLY_FILLED', 'UNKNOWN')
            FOR UPDATE
            """).rows
        guard !open.isEmpty else { return 0 }
        var byClientID: [String: BrokerOrder] = [:]
        var byBrokerID: [String: BrokerOrder] = [:]
        for order in orders {
            if let client = order.clientOrderID { byClientID[client] = order }
            byBrokerID[order.brokerOrderID] = order
        }
        var changed = 0
        for row in open {
            let clientID: String? = try row.decode("client_order_id")
            let brokerID: String? = try row.decode("broker_order_id")
            guard let reported = brokerID.flatMap({ byBrokerID[$0] }) ?? clientID.flatMap({ byClientID[$0] }) else { continue }
            let quantity: Decimal = try row.decode("quantity")
            let filledBefore: Decimal = try row.decode("filled_quantity")
            let filled = min(reported.filledQuantity, quantity)
            guard filled >= filledBefore else { continue }  // a stale report never moves a fill backwards
            let state = Self.state(reported.status, filled: filled, quantity: quantity)
            // A fill needs an average price (the schema insists); a broker that reports a fill
            // without one keeps the stored average, or the order waits for the next sync.
            let storedAverage: Decimal? = try row.decode("average_price")
            let average = filled > 0 ? (reported.averagePrice ?? storedAverage) : nil
            guard filled == 0 || average != nil else { continue }
            changed += try db.execute("""
                UPDATE orders SET broker_order_id = coalesce(broker_order_id, \(reported.brokerOrderID)), filled_quantity = \(filled),
                  average_price = \(average)::numeric, state = \(state), reject_reason = coalesce(\(reported.rejectReason)::text, reject_reason),
                  completed_at = CASE WHEN \(state)::text IN ('FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED') THEN coalesce(completed_at, now()) ELSE completed_at END,
                  version = version + 1
                WHERE id = \(try row.decode("id", as: UUID.self))
                  AND (filled_quantity, state, average_price) IS DISTINCT FROM (\(filled)::numeric, \(state)::text, \(average)::numeric)
                """)
        }
        return changed
    }

    /// The platform state for a broker status, consistent with the fill (the schema's invariants).
    static func state(_ status: BrokerOrderStatus, filled: Decimal, quantity: Decimal) -> String {
        switch status {
        case .filled: return filled == quantity ? "FILLED" : (filled > 0 ? "PARTIALLY_FILLED" : "ACCEPTED")
        case .partiallyFilled, .open: return filled == 0 ? "ACCEPTED" : (filled == quantity ? "FILLED" : "PARTIALLY_FILLED")
        case .cancelled: return "CANCELLED"
        case .rejected: return "REJECTED"
        case .expired: return "EXPIRED"
        }
    }

    /// The broker's snapshot replaces the stored one (positions are derived, re-fetchable state).
    func replacePositions(_ positions: [BrokerPosition]) throws -> Int {
        try db.execute("DELETE FROM positions WHERE account_id = \(account.id)")
        for position in positions {
            let average = position.quantity == 0 ? Decimal(0) : position.averagePrice
            try db.execute("""
                INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, realized_pnl, as_of)
                VALUES (\(account.id), \(position.symbol), \(position.exchange ?? defaultExchange), \(position.quantity), \(average),
                        \(position.realizedPnl ?? 0), now())
                ON CONFLICT (account_id, exchange, symbol) DO UPDATE SET quantity = EXCLUDED.quantity,
                  average_price = EXCLUDED.average_price, realized_pnl = EXCLUDED.realized_pnl, as_of = EXCLUDED.as_of
                """)
        }
        return positions.count
    }
}
