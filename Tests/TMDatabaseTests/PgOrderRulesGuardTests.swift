import Foundation
import Testing
import TestSupport
import TMPostgres

/// The order rules pass a valid row by one short test (migration 0057): before the CASE that names
/// the first broken rule, the function tests every rule as one conjunction, with the positive prices
/// and quantities in one `least(...) > 0` and the non-negative counts in two `least(...) >= 0`, and
/// returns when it is not false. A rule missing from the conjunction, or a `least` that let a broken
/// value through beside a NULL, would accept a row 0036's CHECKs refused: here every combination of
/// NULL, negative, zero and positive values of the grouped columns is written to a database at 0036
/// and to one fully migrated — the same refusal (SQLSTATE and rule) or the same acceptance, each.
/// (Every rule's own refusal, INSERT and UPDATE, is `PgOrderRulesTests`'.)
@Suite(.serialized) struct PgOrderRulesGuardTests {
    static let values = ["NULL", "-1", "0", "1"]

    /// Every assignment of `values` to `columns`.
    static func combinations(_ columns: [String]) -> [[String: String]] {
        columns.reduce([[:]]) { rows, column in rows.flatMap { row in values.map { row.merging([column: $0]) { $1 } } } }
    }

    func sameAs0036(_ rows: [[String: String]]) throws {
        let (oldDatabase, old) = try PgOrderRulesTests.database(through: 36)
        defer { old.close(); oldDatabase.drop() }
        let (newDatabase, new) = try PgOrderRulesTests.database()
        defer { new.close(); newDatabase.drop() }
        var refused = 0
        for change in rows {
            let write = { (db: PostgresConnection) in try PgOrderRulesTests.insert(db, change) }
            let was = try PgOrderRulesTests.refusal(old, write), now = try PgOrderRulesTests.refusal(new, write)
            #expect(now?.sqlState == was?.sqlState && now?.constraint == was?.constraint,
                    "\(change): now \(String(describing: now)), 0036 \(String(describing: was))")
            if was != nil { refused += 1 }
        }
        // Both outcomes occur: the matrix reaches the rules, not only NOT NULL.
        #expect(refused > 0 && refused < rows.count, "\(refused) of \(rows.count) refused")
    }

    /// `least(average_price, price, quantity, requested_price, trigger_price) > 0`, with the rules
    /// tying price and trigger price to the order type (a limit order: price must be set).
    @Test func thePositivesAreCheckedAsTheirOwnRules() throws {
        let rows = Self.combinations(["average_price", "price", "quantity", "requested_price", "trigger_price"]).flatMap { row in
            ["'market'", "'stop_limit'"].map { row.merging(["order_type": $0, "filled_quantity": "0"]) { $1 } }
        }
        try sameAs0036(rows)
    }

    /// `least(filled_quantity, remaining_quantity) >= 0` and `least(lookup_attempts, submit_attempts,
    /// version) >= 0`, beside `fencing_token >= 0`.
    @Test func theNonNegativesAreCheckedAsTheirOwnRules() throws {
        let rows = Self.combinations(["filled_quantity", "remaining_quantity", "lookup_attempts", "submit_attempts", "version"])
            .map { $0.merging(["average_price": "1"]) { $1 } }
            + Self.combinations(["fencing_token", "remaining_quantity", "version"])
        try sameAs0036(rows)
    }
}
