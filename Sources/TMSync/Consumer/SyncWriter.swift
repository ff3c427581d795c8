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

    /// Orders first: a platform order the broker reports by its client id gets its broker id here,
    /// so the trades of that order — which carry only the broker's order id — are linked in the
    /// same sync (`linkTrades`), whether they arrived now or in an earlier sync.
    /// Funds that could not be fetched (`failure`) leave the stored ones as they are.
    func apply(orders: [BrokerOrder], trades batch: TradeBatch, positions: [BrokerPosition], funds: Result<[BrokerFunds], BrokerError>,
               logID: Int64, duration: Duration) throws -> (SyncConsumer.SyncReport, [ChangedTrade]) {
        var report = SyncConsumer.SyncReport()
        report.ordersUpdated = try updateOrders(orders)
        report.fetched = batch.trades.count
        let changed = try upsert(batch.trades)
        report.linked = try linkTrades(batch.trades, reported: orders)
        report.created = changed.filter(\.created).count
        report.updated = changed.count - report.created
        report.skipped = Set(batch.trades.map(\.brokerTradeID)).count - changed.count
        try recordEvents(changed)
        report.positions = try replacePositions(positions)
        switch funds {
        case .success(let lines): report.funds = try replaceFunds(lines)
        case .failure(let error): report.fundsError = "funds not refreshed (the previous ones kept): \(error)"
        }
        try SyncLog.finish(db, logID: logID, report: report, duration: duration)
        let cursor = String(decoding: try JSONEncoder().encode(batch.next.values), as: UTF8.self)
        try db.execute("""
            UPDATE broker_accounts SET sync_cursor = \(cursor)::jsonb, last_sync_at = now(), last_sync_outcome = \(SyncLog.outcome(report)),
              consecutive_failures = 0, error_reason = NULL WHERE id = \(account.id)
            """)
        return (report, changed)
    }

    /// Writes the `trade-events` messages of this sync into the outbox, in the sync's transaction:
    /// they exist exactly when the trades they announce do.
    func recordEvents(_ changed: [ChangedTrade]) throws {
        try TradeEventOutbox.record(db, account: account.id, events: changed.map { TradeEvent($0, account: account) })
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
    /// per 200 trades (a sync's trades cost one round trip, not one each). Returns what was created
    /// or corrected: those get a `trade-events` message.
    ///
    /// What counts as a correction: a change of quantity, price, fees, fee currency, time or side;
    /// or a detail (product, maker/taker, quote quantity, order remaining quantity) the broker now
    /// reports as a different value from a stored one. A detail stored as NULL that the broker now
    /// reports is a backfill (the trade synced before the platform kept it, or before the adapter
    /// read it): written, not announced, so the first sync after migration 0010 sends no event for
    /// every old trade. A detail the broker stops reporting keeps its stored value.
    /// Trades are linked to their orders by `linkTrades`, after the upsert.
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
                rows.append("($\(base + 1)::text, $\(base + 2)::text, $\(base + 3)::text, $\(base + 4)::text, $\(base + 5)::text, $\(base + 6)::numeric, "
                            + "$\(base + 7)::numeric, $\(base + 8)::numeric, $\(base + 9)::text, $\(base + 10)::timestamptz, $\(base + 11)::text, "
                            + "$\(base + 12)::boolean, $\(base + 13)::numeric, $\(base + 14)::numeric)")
                binds += [
                    trade.brokerTradeID.postgresData(), trade.brokerOrderID.postgresData(),
                    trade.symbol.postgresData(), (trade.exchange ?? defaultExchange).postgresData(), trade.side.rawValue.postgresData(),
                    trade.quantity.postgresData(), trade.price.postgresData(), trade.fee.postgresData(), trade.feeCurrency?.postgresData(),
                    trade.executedAt.postgresData(), trade.product?.rawValue.postgresData(), trade.isMaker?.postgresData(),
                    trade.quoteQuantity?.postgresData(), trade.orderRemainingQuantity?.postgresData(),
                ]
            }
            // `corrected` compares with the rows as they were before this statement (every part of
            // one statement sees the same snapshot). coalesce(new, old) vs coalesce(old, new) differ
            // only when both are set and differ: a NULL on either side is no correction.
            let sql = """
                WITH incoming (broker_trade_id, broker_order_id, symbol, exchange, side, quantity, price, fees, fee_currency, traded_at,
                               product, is_maker, quote_quantity, order_remaining_quantity)
                  AS (VALUES \(rows.joined(separator: ", "))),
                stored AS (
                  SELECT t.broker_trade_id,
                         (t.quantity, t.price, t.fees, t.fee_currency, t.traded_at, t.side)
                           IS DISTINCT FROM (i.quantity, i.price, i.fees, i.fee_currency, i.traded_at, i.side)
                         OR (coalesce(i.product, t.product), coalesce(i.is_maker, t.is_maker), coalesce(i.quote_quantity, t.quote_quantity),
                             coalesce(i.order_remaining_quantity, t.order_remaining_quantity))
                           IS DISTINCT FROM (coalesce(t.product, i.product), coalesce(t.is_maker, i.is_maker), coalesce(t.quote_quantity, i.quote_quantity),
                             coalesce(t.order_remaining_quantity, i.order_remaining_quantity)) AS corrected
                  FROM trades t JOIN incoming i ON t.account_id = $1 AND t.broker_trade_id = i.broker_trade_id
                ),
                written AS (
                  INSERT INTO trades (account_id, broker_trade_id, broker_order_id, symbol, exchange, side, quantity, price, fees, fee_currency,
                                      traded_at, product, is_maker, quote_quantity, order_remaining_quantity)
                  SELECT $1, i.broker_trade_id, i.broker_order_id, i.symbol, i.exchange, i.side, i.quantity, i.price, i.fees, i.fee_currency,
                         i.traded_at, i.product, i.is_maker, i.quote_quantity, i.order_remaining_quantity
                  FROM incoming i
                  ON CONFLICT (account_id, broker_trade_id) DO UPDATE SET
                    quantity = EXCLUDED.quantity, price = EXCLUDED.price, fees = EXCLUDED.fees, fee_currency = EXCLUDED.fee_currency,
                    traded_at = EXCLUDED.traded_at, side = EXCLUDED.side,
                    product = coalesce(EXCLUDED.product, trades.product), is_maker = coalesce(EXCLUDED.is_maker, trades.is_maker),
                    quote_quantity = coalesce(EXCLUDED.quote_quantity, trades.quote_quantity),
                    order_remaining_quantity = coalesce(EXCLUDED.order_remaining_quantity, trades.order_remaining_quantity)
                  WHERE (trades.quantity, trades.price, trades.fees, trades.fee_currency, trades.traded_at, trades.side,
                         trades.product, trades.is_maker, trades.quote_quantity, trades.order_remaining_quantity)
                        IS DISTINCT FROM (EXCLUDED.quantity, EXCLUDED.price, EXCLUDED.fees, EXCLUDED.fee_currency, EXCLUDED.traded_at, EXCLUDED.side,
                         coalesce(EXCLUDED.product, trades.product), coalesce(EXCLUDED.is_maker, trades.is_maker),
                         coalesce(EXCLUDED.quote_quantity, trades.quote_quantity),
                         coalesce(EXCLUDED.order_remaining_quantity, trades.order_remaining_quantity))
                  RETURNING id, broker_trade_id, (xmax = 0) AS created, xmin::text AS version
                )
                SELECT w.id, w.broker_trade_id, w.created, w.version FROM written w LEFT JOIN stored s USING (broker_trade_id)
                WHERE w.created OR s.corrected
                """
            for row in try db.query(PostgresQuery(unsafeSQL: sql, binds: binds)).rows {
                let id: String = try row.decode("broker_trade_id")
                changed.append(ChangedTrade(id: try row.decode("id"), trade: latest[id]!, created: try row.decode("created"),
                                            version: try row.decode("version")))
            }
        }
        return changed
    }

    /// Links the account's unlinked trades to their platform orders once the order's broker id is
    /// known — the order matched by client id in this sync or an earlier one — or the trade itself
    /// names the order's client id. Only trades of the orders this sync heard of (reported by the
    /// broker, or named by a fetched trade) are looked at: an account's trades of orders placed
    /// outside the platform stay unlinked for good, and are not re-read by every sync. A link is not
    /// a correction: no `trade-events` message. Returns how many trades were linked.
    func linkTrades(_ trades: [BrokerTrade], reported orders: [BrokerOrder]) throws -> Int {
        let heardOf = Set(orders.map(\.brokerOrderID)).union(trades.map(\.brokerOrderID)).sorted()
        guard !heardOf.isEmpty else { return 0 }
        var binds: [PostgresData?] = [account.id.postgresData(), String(decoding: try JSONEncoder().encode(heardOf), as: UTF8.self).postgresData()]
        // Trades that name their order's client id (the model allows it; the brokers' fills do not today).
        var named: [String] = []
        for trade in trades {
            guard let client = trade.clientOrderID else { continue }
            binds += [trade.brokerOrderID.postgresData(), client.postgresData()]
            named.append("($\(binds.count - 1)::text, $\(binds.count)::text)")
        }
        let byClientID = named.isEmpty ? "" : """
            UNION ALL
            SELECT o.id, n.broker_order_id FROM orders o JOIN (VALUES \(named.joined(separator: ", "))) AS n (broker_order_id, client_order_id)
              ON o.client_order_id = n.client_order_id WHERE o.account_id = $1
            """
        return try db.execute(PostgresQuery(unsafeSQL: """
            UPDATE trades t SET order_id = known.order_id
            FROM (SELECT o.id AS order_id, o.broker_order_id FROM orders o
                  WHERE o.account_id = $1 AND o.broker_order_id IN (SELECT jsonb_array_elements_text($2::jsonb))
                  \(byClientID)) AS known
            WHERE t.account_id = $1 AND t.order_id IS NULL AND t.broker_order_id = known.broker_order_id
              AND t.broker_order_id IN (SELECT jsonb_array_elements_text($2::jsonb))
            """, binds: binds))
    }

    /// Moves the platform's own open orders to the fill state the broker reports; never backwards,
    /// never out of a terminal state. An order known by its client id only (placed, the answer
    /// lost: SUBMITTING or UNKNOWN) gets the broker's id, even when nothing else has changed yet.
    /// Stores the broker's remaining quantity and product. Returns how many orders changed.
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
            // What the broker did not say (remaining quantity, product) keeps its stored value.
            let (remaining, product) = (reported.remainingQuantity, reported.product?.rawValue)
            // The stamps read the new values from `n` (a SET list's column names read the old row).
            changed += try db.execute("""
                UPDATE orders SET broker_order_id = coalesce(broker_order_id, \(reported.brokerOrderID)), filled_quantity = n.new_filled,
                  average_price = n.new_average, state = n.new_state, reject_reason = coalesce(\(reported.rejectReason)::text, reject_reason),
                  completed_at = CASE WHEN n.new_state IN ('FILLED', 'CANCELLED', 'REJECTED', 'EXPIRED') THEN coalesce(completed_at, now()) ELSE completed_at END,
                  remaining_quantity = coalesce(\(remaining)::numeric, remaining_quantity), product = coalesce(\(product)::text, product),
                  version = version + 1, \(fragment: Self.stamps)
                FROM (SELECT \(state)::text AS new_state, \(filled)::numeric AS new_filled, \(average)::numeric AS new_average) AS n
                WHERE id = \(try row.decode("id", as: UUID.self))
                  AND (filled_quantity, state, average_price, broker_order_id, remaining_quantity, product)
                      IS DISTINCT FROM (\(filled)::numeric, \(state)::text, \(average)::numeric, coalesce(broker_order_id, \(reported.brokerOrderID)),
                                        coalesce(\(remaining)::numeric, remaining_quantity), coalesce(\(product)::text, product))
                """)
        }
        return changed
    }

    /// `updateOrders`' stamps (`OrderRowStamps`), over the new values it assigns.
    static let stamps = OrderRowStamps.assignments(state: "n.new_state", filled: "n.new_filled", average: "n.new_average")

    /// The platform state for a broker status (one mapping, shared with the order placer).
    static func state(_ status: BrokerOrderStatus, filled: Decimal, quantity: Decimal) -> String {
        status.platformState(filled: filled, quantity: quantity)
    }

    /// The broker's snapshot replaces the stored one (positions are derived, re-fetchable state).
    func replacePositions(_ positions: [BrokerPosition]) throws -> Int {
        try db.execute("DELETE FROM positions WHERE account_id = \(account.id)")
        for position in positions {
            let average = position.quantity == 0 ? Decimal(0) : position.averagePrice
            // `exposure` is a generated column: abs(quantity) x coalesce(last_price, average_price) x multiplier.
            try db.execute("""
                INSERT INTO positions (account_id, symbol, exchange, quantity, average_price, realized_pnl, multiplier, last_price, unrealized_pnl, as_of)
                VALUES (\(account.id), \(position.symbol), \(position.exchange ?? defaultExchange), \(position.quantity), \(average),
                        \(position.realizedPnl ?? 0), \(position.multiplier), \(position.lastPrice)::numeric, \(position.unrealizedPnl)::numeric, now())
                ON CONFLICT (account_id, exchange, symbol) DO UPDATE SET quantity = EXCLUDED.quantity,
                  average_price = EXCLUDED.average_price, realized_pnl = EXCLUDED.realized_pnl, multiplier = EXCLUDED.multiplier,
                  last_price = EXCLUDED.last_price, unrealized_pnl = EXCLUDED.unrealized_pnl, as_of = EXCLUDED.as_of
                """)
        }
        return positions.count
    }

    /// The broker's funds replace the stored ones, stamped with the sync's time (the transaction's
    /// `now()`, as the positions are). A line listed twice counts once (its last). Returns the lines stored.
    func replaceFunds(_ funds: [BrokerFunds]) throws -> Int {
        try db.execute("DELETE FROM account_funds WHERE account_id = \(account.id)")
        for line in funds {
            try db.execute("""
                INSERT INTO account_funds (account_id, segment, currency, available, cash, used, total, as_of)
                VALUES (\(account.id), \(line.segment ?? ""), \(line.currency), \(line.available), \(line.cash)::numeric, \(line.used)::numeric,
                        \(line.total)::numeric, now())
                ON CONFLICT (account_id, segment, currency) DO UPDATE SET available = EXCLUDED.available, cash = EXCLUDED.cash,
                  used = EXCLUDED.used, total = EXCLUDED.total
                """)
        }
        return Set(funds.map { [$0.segment ?? "", $0.currency] }).count
    }
}
