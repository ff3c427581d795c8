import Foundation
import Testing
import TMCore

/// `UUIDText.parse` (the order path's UUID parser, without `sscanf`) accepts exactly what
/// Foundation's `UUID(uuidString:)` accepts, and gives the same UUID.
@Suite struct UUIDTextParseTests {
    @Test func itAgreesWithFoundationOnUUIDsAndOnNearMisses() {
        var inputs: [String] = []
        for _ in 0..<200 {
            let id = UUID()
            inputs += [id.uuidString, id.uuidString.lowercased()]
        }
        let sample = "a1b2c3d4-e5f6-4789-8abc-def012345678"
        inputs += ["", sample, sample.uppercased(), "{\(sample)}", String(sample.dropLast()), sample + "0", sample + " ",
                   " " + String(sample.dropFirst()), sample.replacingOccurrences(of: "-", with: ""),
                   sample.replacingOccurrences(of: "-", with: "_"), String(sample.prefix(8)) + "+" + String(sample.dropFirst(9)),
                   "g" + String(sample.dropFirst()), "+1b2c3d4-e5f6-4789-8abc-def012345678", "0x1b2c3d-e5f6-4789-8abc-def012345678",
                   "a1b2c3d4-e5f6-4789-8abc-def01234567é", "a1b2c3d4e-5f6-4789-8abc-def012345678", "00000000-0000-0000-0000-000000000000"]
        for input in inputs {
            #expect(UUIDText.parse(input) == UUID(uuidString: input), "\(input)")
            // The bytes form (a Postgres column's text) agrees too.
            #expect(Array(input.utf8).withUnsafeBufferPointer(UUIDText.parse(utf8:)) == UUID(uuidString: input), "\(input)")
        }
    }
}
