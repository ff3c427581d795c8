import Foundation
@testable import TMOrders
import Testing

/// Order ids from the pooled CSPRNG: version-4 UUIDs like `UUID()`'s, never repeated, also across
/// the pool's refills.
@Suite struct RandomUUIDTests {
    @Test func versionFourRFCVariantAndNoRepeatsAcrossRefills() {
        let count = 3 * RandomUUID.poolSize / 16 + 7  // three refills and a part
        var seen = Set<UUID>()
        for _ in 0..<count {
            let id = RandomUUID.make()
            #expect(id.uuid.6 >> 4 == 4, "version 4: \(id)")
            #expect(id.uuid.8 >> 6 == 0b10, "RFC 4122 variant: \(id)")
            #expect(UUID(uuidString: id.uuidString) == id)
            seen.insert(id)
        }
        #expect(seen.count == count, "every id is distinct")
    }

    @Test func threadsNeverShareBytes() async {
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<4 { group.addTask { (0..<600).map { _ in RandomUUID.make() } } }
            return await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(Set(ids).count == ids.count)
    }
}
