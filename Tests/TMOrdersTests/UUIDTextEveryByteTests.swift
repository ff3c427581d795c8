import Foundation
import Testing
import TMCore

/// `UUIDText.parse` agrees with Foundation's `UUID(uuidString:)` on canonical text of either case and
/// on every text one byte away from it — each of the 36 positions given each of the 256 byte values —
/// so its own 8-4-4-4-12 reader accepts no byte Foundation refuses and reads every digit as Foundation
/// does. And `lower` is Foundation's `uuidString.lowercased()`, byte for byte.
@Suite struct UUIDTextEveryByteTests {
    @Test func everyTextOneByteFromACanonicalUUIDParsesAsFoundationParsesIt() {
        var generator = SystemRandomNumberGenerator()
        var ids = [UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
                   UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))]
        for _ in 0..<6 { ids.append(UUID()) }
        var differences: [String] = []
        for id in ids {
            #expect(UUIDText.lower(id) == id.uuidString.lowercased() && UUIDText.upper(id) == id.uuidString)
            // Lower, upper, and each letter's case chosen at random.
            let mixed = String(id.uuidString.map { Bool.random(using: &generator) ? Character($0.lowercased()) : $0 })
            for text in [id.uuidString.lowercased(), id.uuidString, mixed] {
                #expect(UUIDText.parse(text) == id, "\(text)")
                let canonical = Array(text.utf8)
                for position in 0..<36 {
                    for value in 0...255 where UInt8(value) != canonical[position] {
                        var bytes = canonical
                        bytes[position] = UInt8(value)
                        let ours = bytes.withUnsafeBufferPointer(UUIDText.parse(utf8:))
                        let foundations = UUID(uuidString: String(decoding: bytes, as: UTF8.self))
                        if ours != foundations { differences.append("\(text) with byte \(value) at \(position)") }
                    }
                }
            }
        }
        #expect(differences.isEmpty, "\(differences.prefix(10))")
    }

    /// Text one byte short or long, or a UUID with anything after it, is refused (as Foundation
    /// refuses it): the reader never reads past 36 bytes nor takes a prefix.
    @Test func textOfAnyOtherLengthIsRefusedAsFoundationRefusesIt() {
        let text = Array(UUID().uuidString.lowercased().utf8)
        let variants: [[UInt8]] = [Array(text.dropLast()), text + [UInt8(ascii: "0")], text + Array(" trailing".utf8),
                                   Array(text.dropFirst()), [], Array(text.prefix(8))]
        for bytes in variants {
            let ours = bytes.withUnsafeBufferPointer(UUIDText.parse(utf8:))
            #expect(ours == nil && UUID(uuidString: String(decoding: bytes, as: UTF8.self)) == nil, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }
}
