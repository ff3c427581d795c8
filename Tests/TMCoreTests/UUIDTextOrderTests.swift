import Foundation
import Testing
import TMCore

/// `UUIDText.precedes` orders UUIDs exactly as their texts (`uuidString`, either case) compare,
/// and `appendLower` appends exactly `uuidString.lowercased()` — checked against Foundation.
@Suite struct UUIDTextOrderTests {
    static func uuid(_ bytes: [UInt8]) -> UUID {
        UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                    bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// Two UUIDs that differ in one nibble only, for every nibble position and every pair of
    /// nibble values (a digit against a letter, a letter against a letter, equal), over a random rest.
    @Test func precedesComparesAsTheTextsCompareAtEveryNibble() {
        var mismatches: [String] = []
        for _ in 0..<2 {
            let base = (0..<16).map { _ in UInt8.random(in: 0...255) }
            for position in 0..<32 {
                for a in 0..<16 {
                    for b in 0..<16 {
                        func with(_ nibble: Int) -> UUID {
                            var bytes = base
                            let shift: UInt8 = position % 2 == 0 ? 4 : 0
                            bytes[position / 2] = bytes[position / 2] & ~(0x0F << shift) | UInt8(nibble) << shift
                            return Self.uuid(bytes)
                        }
                        let (x, y) = (with(a), with(b))
                        if UUIDText.precedes(x, y) != (x.uuidString < y.uuidString)
                            || UUIDText.precedes(x, y) != (x.uuidString.lowercased() < y.uuidString.lowercased()) {
                            mismatches.append("\(x) vs \(y)")
                        }
                    }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test func sortingByPrecedesGivesTheTextsOrder() {
        var ids = (0..<2_000).map { _ in UUID() }
        ids.append(Self.uuid([UInt8](repeating: 0, count: 16)))
        ids.append(Self.uuid([UInt8](repeating: 255, count: 16)))
        ids += ids.prefix(10)  // equal ones: neither precedes the other
        #expect(ids.sorted(by: UUIDText.precedes) == ids.sorted { $0.uuidString < $1.uuidString })
        for id in ids.prefix(20) { #expect(!UUIDText.precedes(id, id)) }
    }

    @Test func appendLowerAppendsFoundationsLowerCaseText() {
        var ids = (0..<200).map { _ in UUID() }
        ids.append(Self.uuid([UInt8](repeating: 0, count: 16)))
        ids.append(Self.uuid([UInt8](repeating: 255, count: 16)))
        ids.append(Self.uuid((0..<16).map { UInt8($0 * 17) }))
        var out: [UInt8] = Array("prefix:".utf8)
        var expected = out
        for id in ids {
            UUIDText.appendLower(id, to: &out)
            expected += Array(id.uuidString.lowercased().utf8)
            #expect(UUIDText.lower(id) == id.uuidString.lowercased() && UUIDText.upper(id) == id.uuidString)
        }
        #expect(out == expected)
    }
}
