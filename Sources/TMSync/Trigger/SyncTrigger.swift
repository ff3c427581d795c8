import Foundation
import Logging
import TMBrokers
import TMPostgres
import TMQueue

/// `sync-trigger`: enqueues one `broker-sync` message per account due for sync.
///
/// Guarantees: an account is due when it is active, enabled, not manual (nothing to call) and its
/// `next_sync_at` has passed; its message has the key `sync:<account>:<slot>`, so a second trigger
/// run for the same slot (a redelivery, two schedulers by accident) enqueues nothing twice; `next_sync_at` moves on only for
/// accounts whose message is enqueued (or already was), so a failed enqueue is retried next run.
/// Thousands of accounts take one query, one pipelined enqueue per chunk, and one update.
public struct SyncTrigger: Sendable {
    public let pool: PostgresPool
    public let producer: QueueProducer
    public var queue = "broker-sync"
    /// Accounts taken per pass (the rest wait for the next slot).
    public var limit = 50_000
    public var chunk = 1_000

    public init(pool: PostgresPool, producer: QueueProducer) {
        self.pool = pool
        self.producer = producer
    }

    public struct Report: Sendable, Equatable {
        public var due = 0
        public var enqueued = 0
        public var duplicates = 0
        public var failed = 0
    }

    /// The message each due account gets.
    public struct Message: Codable, Sendable, Equatable {
        public var accountID: UUID
        public var slot: String
        public init(accountID: UUID, slot: String) {
            self.accountID = accountID
            self.slot = slot
        }
        enum CodingKeys: String, CodingKey { case accountID = "account_id", slot }
    }

    public func run(slot: Date, logger: Logger) async throws -> Report {
        let slotText = ISO8601DateFormatter().string(from: slot)
        let limit = self.limit
        let due = try await pool.withConnection { db in
            try db.query("""
                SELECT id FROM broker_accounts
                WHERE status = 'active' AND broker <> \(ManualAccount.broker) AND next_sync_at <= greatest(\(slot), now())
                ORDER BY next_sync_at LIMIT \(limit)
                """).rows.map { try $0.decode("id", as: UUID.self) }
        }
        var report = Report(due: due.count)
        var advanced: [UUID] = []
        for start in stride(from: 0, to: due.count, by: chunk) {
            let accounts = Array(due[start..<min(start + chunk, due.count)])
            let messages = try accounts.map {
                try OutgoingMessage(json: Message(accountID: $0, slot: slotText), key: "sync:\($0.uuidString.lowercased()):\(slotText)")
            }
            let results = try await producer.enqueueBatch(queue, messages)
            for (account, result) in zip(accounts, results) {
                switch result {
                case .success(let enqueued):
                    if enqueued.duplicate { report.duplicates += 1 } else { report.enqueued += 1 }
                    advanced.append(account)
                case .failure(let error):
                    report.failed += 1
                    logger.warning("could not enqueue a sync", metadata: ["account_id": "\(account)", "error": "\(error)"])
                }
            }
        }
        // One statement per chunk: next_sync_at moves from the slot by each account's frequency.
        for start in stride(from: 0, to: advanced.count, by: chunk) {
            let ids = advanced[start..<min(start + chunk, advanced.count)]
            let list = ids.enumerated().map { "$\($0.offset + 2)" }.joined(separator: ",")
            let query = PostgresQuery(
                unsafeSQL: "UPDATE broker_accounts SET next_sync_at = greatest(next_sync_at, $1 + sync_frequency) WHERE id IN (\(list))",
                binds: [slot.postgresData()] + ids.map { $0.postgresData() })
            try await pool.execute(query)
        }
        logger.info("sync trigger", metadata: [
            "slot": "\(slotText)", "due": "\(report.due)", "enqueued": "\(report.enqueued)",
            "duplicates": "\(report.duplicates)", "failed": "\(report.failed)",
        ])
        return report
    }
}
