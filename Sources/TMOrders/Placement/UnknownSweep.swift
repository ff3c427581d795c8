import Foundation
import TMBrokers
import TMPostgres

extension OrderPlacer {
    /// Orders whose outcome is still unknown and due for a look-up (`next_lookup_at` passed) — also
    /// those whose message has been dead-lettered — among the accounts `owns` accepts, looked up and
    /// resolved like a redelivery would (`advance`). `fences` names the writes' fences for an
    /// order's account (the account the order was asked for), nil when the account is not ours.
    /// One query per pass, whatever the number of shards owned. Returns how many were resolved to a
    /// known state.
    /// Also orders left SUBMITTING longer than any broker's `resendAfter`: their sender died between
    /// the commit and the answer, and no message may remain to redeliver (a send of this sweep, or
    /// a message dead-lettered after too many reclaims), so without the sweep they would stay there.
    ///
    /// Guarantees: the same rules as a redelivery (look up first; resend only after `resendAfter`);
    /// a sweep racing a redelivery of the same order moves it once (the transitions compare and set).
    public func sweepUnknown(limit: Int = 200, fences: @Sendable (UUID) -> PlacementFences?) async -> Int {
        let now = clock()
        // A send still in flight ends (answer or UNKNOWN committed) within its broker's resendAfter.
        let abandoned = now.addingTimeInterval(-(BrokerKind.allCases.map(settings.resendAfter).max() ?? .seconds(60)).seconds)
        guard let due = try? await pool.withConnection({ db in
            try db.query("""
                SELECT \(fragment: OrderRecord.columns) FROM orders
                WHERE (state = 'UNKNOWN' AND next_lookup_at <= \(now)) OR (state = 'SUBMITTING' AND submitted_at <= \(abandoned))
                ORDER BY coalesce(next_lookup_at, submitted_at) LIMIT \(limit)
                """).rows.map(OrderRecord.init(row:))
        }) else { return 0 }
        var resolved = 0
        for record in due {
            guard let fences = fences(record.requestedAccountID ?? record.accountID) else { continue }
            if let result = try? await advance(record, fences: fences), let state = result.state, state != .unknown, state != .submitting {
                resolved += 1
            }
        }
        return resolved
    }
}
