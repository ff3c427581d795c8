import Foundation
import Testing
import TestSupport
import TMCore
import TMLocks
import TMPostgres

/// `tm_advance_fences` (migration 0029): a fence advanced with the token it already holds passes and
/// is locked until the transaction ends, but its row is not rewritten (no new row version, no new
/// index entries: the order path advances its shard's fence, and a message's, in every commit).
@Suite struct FenceRewriteTests {
    @Test func aFenceAtItsStoredTokenPassesLockedButIsNotRewritten() throws {
        let database = try TestDatabase(migrated: true, prefix: "tm_locks")
        defer { database.drop() }
        let db = try database.connect()
        let other = try database.connect()
        defer { db.close(); other.close() }
        let fence = MessageFence(queue: "q", messageID: TestServers.uniqueName("fence-rewrite"), epoch: 5)
        let rowVersion = { () throws -> String in
            try other.query("SELECT ctid::text || '/' || xmin::text AS v FROM lock_fences WHERE resource = \(fence.resource)").rows[0].decode("v")
        }
        try db.transaction { db in try FencingGuard.advance(db, fences: [fence]) }
        let written = try rowVersion()

        // The same token again: passes, the row is held by the transaction, and not rewritten.
        try db.transaction { db in
            try FencingGuard.advance(db, fences: [fence])
            #expect(throws: PostgresError.self, "locked until the transaction ends") {
                try other.transaction { other in
                    try other.execute("SELECT 1 FROM lock_fences WHERE resource = \(fence.resource) FOR UPDATE NOWAIT")
                }
            }
        }
        #expect(try rowVersion() == written, "not rewritten")

        // An older token is still refused; a newer one raises the fence.
        #expect(throws: LockError.staleFencingToken(resource: fence.resource, token: 4)) {
            try db.transaction { db in try FencingGuard.advance(db, fences: [MessageFence(queue: "q", messageID: fence.messageID, epoch: 4)]) }
        }
        try db.transaction { db in try FencingGuard.advance(db, fences: [MessageFence(queue: "q", messageID: fence.messageID, epoch: 6)]) }
        #expect(try other.query("SELECT token FROM lock_fences WHERE resource = \(fence.resource)").rows[0].decode("token", as: Int64.self) == 6)
    }
}
