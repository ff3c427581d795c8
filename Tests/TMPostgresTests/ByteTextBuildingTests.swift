import Foundation
import Testing
@testable import TMPostgres

/// Session 25's byte-level text building keeps every byte: an array element quoted by copying clean
/// runs whole equals the byte-by-byte escaping it replaced, and `renumber` over UTF-8 bytes gives the
/// same SQL as the walk over `Character`s it replaced, on the repository's own source text and on
/// random fragments. Both old implementations are kept here as the references.
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

    // MARK: - Renumbering

    /// `renumber` as it was, walking `Array(sql)` of `Character`s.
    private static func referenceRenumber(_ sql: String, offset: Int) -> String {
        guard offset > 0, sql.utf8.contains(UInt8(ascii: "$")) else { return sql }
        var out = ""
        let chars = Array(sql)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "'" || c == "\"" {
                out.append(c)
                i += 1
                while i < chars.count, chars[i] != c { out.append(chars[i]); i += 1 }
                if i < chars.count { out.append(chars[i]); i += 1 }
            } else if c == "-", i + 1 < chars.count, chars[i + 1] == "-" {
                while i < chars.count, chars[i] != "\n" { out.append(chars[i]); i += 1 }
            } else if c == "$", i + 1 < chars.count, chars[i + 1].isNumber {
                var j = i + 1
                var digits = ""
                while j < chars.count, chars[j].isASCII, chars[j].isNumber { digits.append(chars[j]); j += 1 }
                out += "$\(Int(digits)! + offset)"
                i = j
            } else if c == "$" {
                var j = i + 1
                while j < chars.count, chars[j] != "$", chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                if j < chars.count, chars[j] == "$" {
                    let tag = String(chars[i...j])
                    out += tag
                    i = j + 1
                    let rest = String(chars[i...])
                    if let end = rest.range(of: tag) {
                        out += rest[..<end.upperBound]
                        i += rest.distance(from: rest.startIndex, to: end.upperBound)
                    } else {
                        out += rest
                        i = chars.count
                    }
                } else {
                    out.append(c)
                    i += 1
                }
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }

    /// Every Swift file under Sources, whole and split at `"""`: the statements and fragments that
    /// are renumbered at run time are in there, with all the text around them.
    private static func sourceTexts() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        var texts: [String] = []
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            texts.append(text)
            texts += text.components(separatedBy: "\"\"\"")
        }
        return texts
    }

    @Test func renumberingTheSourcesEqualsTheCharacterWalk() throws {
        let texts = try Self.sourceTexts()
        #expect(texts.count > 100)
        #expect(texts.contains { $0.contains("RETURNING") && $0.contains("$") })
        for text in texts where !text.contains("\r") {
            for offset in [0, 1, 25] {
                #expect(PostgresQuery.renumber(text, offset: offset) == Self.referenceRenumber(text, offset: offset),
                        "\(text.prefix(200))")
            }
        }
    }

    /// Pieces of SQL syntax whose mixes exercise every branch: placeholders, quotes, doubled quotes,
    /// comments, dollar quotes (tagged, empty, unclosed), a lone `$`, and multi-byte letters (not
    /// other multi-byte characters: after a `$` they now count as tag bytes, as Postgres counts them).
    private static let sqlPieces = [
        "$1", "$2", "$10", "$", "$$", "$tag$", "$t_1$", "$é$", "'", "\"", "''", "--", "-", "\n", " ", "a",
        "SELECT ", "_", "7", "é", "日本", ",", "(", ")", "::uuid[]", "E'\\'", "\\",
    ]

    @Test func renumberingRandomFragmentsEqualsTheCharacterWalk() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<5_000 {
            var text = ""
            for _ in 0..<Int.random(in: 0...24, using: &rng) {
                text += Self.sqlPieces[Int.random(in: 0..<Self.sqlPieces.count, using: &rng)]
            }
            // Digit runs longer than Int holds would trap both; pieces keep them far shorter.
            let offset = [0, 1, 3, 25, 1000][Int.random(in: 0..<5, using: &rng)]
            #expect(PostgresQuery.renumber(text, offset: offset) == Self.referenceRenumber(text, offset: offset),
                    "\(text.debugDescription) +\(offset)")
        }
    }

    /// One deliberate difference: a `\r\n` was one `Character`, not `"\n"`, so a comment ended by it
    /// swallowed the next line and that line's placeholders kept their numbers. Bytes end it at `\n`.
    @Test func aCommentEndedByCRLFEndsAtTheLineEnd() {
        #expect(PostgresQuery.renumber("SELECT 1 -- note\r\nWHERE a = $1", offset: 2) == "SELECT 1 -- note\r\nWHERE a = $3")
    }
}

/// Knuth's MMIX linear congruential generator: the same random inputs on every run, so a failure can
/// be replayed (`random(in:using:)` draws on the high bits, the good ones of an LCG).
private struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}
