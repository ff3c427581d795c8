import TMPostgres

/// The stamps an UPDATE of `orders` writes in its own SET list (migration 0045): `updated_at`, the
/// first acceptance, the fill time and the slippage — what 0036's BEFORE UPDATE trigger wrote, without
/// the tuple lock and the PL/pgSQL call such a trigger costs every UPDATE. One text for every writer
/// the platform owns (the order placer's `OrderStore.updateSet`, sync's `SyncWriter.updateOrders`).
///
/// Guarantees, given the row's NEW state, fill and average price as SQL expressions (a SET list's
/// bare column names read the OLD row, so a writer passes what it assigns, never the column):
/// `updated_at` is the transaction's time; `accepted_at` is set once, when the row first reaches an
/// accepted state (ACCEPTED, PARTIALLY_FILLED, FILLED) and kept after; `filled_at` likewise on FILLED;
/// `slippage_bps` follows the fill (positive is worse for the trader: paid more on a buy, received less
/// on a sell), left as it was while there is no fill, average or requested price. The statement must
/// not change `side` or `requested_price` (they are read from the old row).
public enum OrderRowStamps {
    public static func assignments(state: String, filled: String, average: String) -> PostgresQuery {
        PostgresQuery(unsafeSQL: """
            updated_at = now(),
              accepted_at = CASE WHEN \(state) IN ('ACCEPTED', 'PARTIALLY_FILLED', 'FILLED') THEN coalesce(accepted_at, now()) ELSE accepted_at END,
              filled_at = CASE WHEN \(state) = 'FILLED' THEN coalesce(filled_at, now()) ELSE filled_at END,
              slippage_bps = CASE WHEN \(filled) > 0 AND \(average) IS NOT NULL AND requested_price > 0
                                  THEN round((\(average) - requested_price) / requested_price * 10000 * CASE WHEN side = 'sell' THEN -1 ELSE 1 END, 2)
                                  ELSE slippage_bps END
            """)
    }
}
