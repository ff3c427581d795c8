import Foundation
import Testing
@testable import TMPostgres

/// Session 25's byte-level text building keeps every byte: an array element quoted by copying clean
/// runs whole equals the byte-by-byte escaping it replaced (kept here as the reference).
@Suite struct ByteTextBuildingTests {
    // MARK: - Array elements

    /// The element quoting as it was: every byte appended alone, `"` and `\` after a backslash.
    private static func referenceQuoted(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for byte in bytes {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
            out.append(byte)
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    /// Pieces that make the awkward cases: quotes and backslashes alone and in rows, NUL-free control
    /// bytes, array syntax, multi-byte characters, and long clean runs.
    private static let elementPieces: [[UInt8]] = [
        Array("\"".utf8), Array("\\".utf8), Array("\\\"".utf8), Array("\"\"".utf8), Array("\\\\".utf8),
        [0x01], [0x09], [0x0A], [0x0D], [0x1F], [0x7F], Array(",{} ".utf8), Array("NULL".utf8),
        Array("é".utf8), Array("日本".utf8), Array("🙂".utf8), Array("a".utf8), Array("qty".utf8),
        Array(#"{"symbol":"INFY","price":"1523.45","note":"a \"b\" \\ c"}"#.utf8),
        Array(String(repeating: "clean", count: 40).utf8),
    ]

    private static func randomElement(_ rng: inout SeededGenerator) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            out += elementPieces[Int.random(in: 0..<elementPieces.count, using: &rng)]
        }
        return out
    }

    @Test func quotedElementsEqualTheByteByByteEscaping() {
        var rng = SeededGenerator(seed: 25)
        var fixed: [[UInt8]] = [[], Array("\"".utf8), Array("\\".utf8), Array("x\"".utf8), Array("\"x".utf8)]
        fixed += Self.elementPieces
        let random = (0..<2_000).map { _ in Self.randomElement(&rng) }
        for bytes in fixed + random {
            let reference = Self.referenceQuoted(bytes)
            var fromArray: [UInt8] = []
            PostgresArrayText.appendQuoted(bytes, to: &fromArray)
            #expect(fromArray == reference, "\(bytes)")
            // Not contiguous: the byte-by-byte way.
            var fromLazy: [UInt8] = []
            PostgresArrayText.appendQuoted(bytes.lazy.map { $0 }, to: &fromLazy)
            #expect(fromLazy == reference, "\(bytes)")
            // Appending after text already there keeps it.
            var afterPrefix: [UInt8] = Array("{1,".utf8)
            PostgresArrayText.appendQuoted(bytes[...], to: &afterPrefix)
            #expect(afterPrefix == Array("{1,".utf8) + reference, "\(bytes)")
        }
    }

    @Test func arrayLiteralsOfStringsAndNullsEqualTheByteByByteEscaping() {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<300 {
            let strings: [String?] = (0..<Int.random(in: 0...6, using: &rng)).map { _ in
                Bool.random(using: &rng) && Bool.random(using: &rng)
                    ? nil : String(decoding: Self.randomElement(&rng), as: UTF8.self)
            }
            var reference: [UInt8] = Array("{".utf8)
            for (index, string) in strings.enumerated() {
                if index > 0 { reference.append(UInt8(ascii: ",")) }
                reference += string.map { Self.referenceQuoted(Array($0.utf8)) } ?? Array("NULL".utf8)
            }
            reference.append(UInt8(ascii: "}"))
            #expect(PostgresData.array(strings).bytes == reference, "\(strings)")
            #expect(PostgresData.array(strings.map { $0?.postgresData() }).bytes == reference, "\(strings)")
        }
    }
}

/// SplitMix64: the same random inputs on every run, so a failure can be replayed.
private struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
