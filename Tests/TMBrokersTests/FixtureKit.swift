import Foundation
import TMCore
import TMHTTP
import TestSupport
import Testing

/// The brokers' own published samples under `Fixtures/<broker>/`, verbatim, each listed in its
/// folder's `SOURCES.md` with the endpoint it answers and where it was taken from.
enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The fixture's bytes exactly as stored (`kite/orders.json`).
    static func data(_ path: String) throws -> Data {
        try Data(contentsOf: root.appendingPathComponent(path))
    }

    static func text(_ path: String) throws -> String { String(decoding: try data(path), as: UTF8.self) }

    static func json(_ path: String) throws -> JSONValue { try JSONValue.parse([UInt8](try data(path))) }

    /// A server behaviour answering with the fixture as the broker's body.
    static func response(_ path: String, status: Int = 200, headers: [(String, String)] = []) throws -> TestHTTPServer.Behavior {
        .respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: try data(path))
    }

    /// One row of a `SOURCES.md` table: `| file | endpoint | source |`.
    struct Source: Sendable, Equatable {
        let file: String
        let endpoint: String
        let source: String
    }

    /// The rows of `Fixtures/<broker>/SOURCES.md` (the header and separator rows skipped).
    static func sources(_ broker: String) throws -> [Source] {
        let text = try String(contentsOf: root.appendingPathComponent(broker).appendingPathComponent("SOURCES.md"), encoding: .utf8)
        var rows: [Source] = []
        for line in text.split(separator: "\n") where line.hasPrefix("|") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "") }
            guard cells.count >= 3, cells[0] != "file", !cells[0].hasPrefix("-") else { continue }
            rows.append(Source(file: cells[0], endpoint: cells[1], source: cells[2]))
        }
        return rows
    }
}

/// The structure of a JSON document without its values: object keys, array element shapes and the
/// kind of each scalar. broker-sim must answer in the shapes the brokers document.
indirect enum JSONShape: Equatable, CustomStringConvertible {
    case null, bool, number, string
    case array(JSONShape?)
    case object([String: JSONShape])

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool: self = .bool
        case .number: self = .number
        case .string: self = .string
        case .array(let items):
            // The union of the elements' shapes: every key any element has.
            var element: JSONShape?
            for item in items { element = element.map { $0.merged(with: JSONShape(item)) } ?? JSONShape(item) }
            self = .array(element)
        case .object(let members):
            var shape: [String: JSONShape] = [:]
            for (key, value) in members { shape[key] = shape[key].map { $0.merged(with: JSONShape(value)) } ?? JSONShape(value) }
            self = .object(shape)
        }
    }

    func merged(with other: JSONShape) -> JSONShape {
        switch (self, other) {
        case (.object(let a), .object(let b)): return .object(a.merging(b) { $0.merged(with: $1) })
        case (.array(let a), .array(let b)):
            switch (a, b) {
            case (let a?, let b?): return .array(a.merged(with: b))
            default: return .array(a ?? b)
            }
        case (.null, _): return other
        default: return self
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .array(let element): return "[\(element.map { "\($0)" } ?? "")]"
        case .object: return "object"
        }
    }

    /// Where `actual` (broker-sim's answer) differs from `self` (the broker's sample): fields the
    /// sample has that the answer lacks, and fields whose kind differs. A `null` in the sample
    /// matches any kind (the broker documents the field as nullable); an empty array matches any
    /// array; `ignoring` names key paths (`data.net[].foo`) that may be absent.
    func differences(from actual: JSONShape, path: String = "", ignoring: Set<String> = []) -> [String] {
        switch (self, actual) {
        case (.null, _): return []
        case (.object(let expected), .object(let got)):
            var out: [String] = []
            for (key, shape) in expected.sorted(by: { $0.key < $1.key }) {
                let sub = path.isEmpty ? key : "\(path).\(key)"
                guard !ignoring.contains(sub) else { continue }
                guard let other = got[key] else {
                    out.append("\(sub): missing")
                    continue
                }
                out += shape.differences(from: other, path: sub, ignoring: ignoring)
            }
            return out
        case (.array(let expected), .array(let got)):
            guard let expected, let got else { return [] }
            return expected.differences(from: got, path: path + "[]", ignoring: ignoring)
        case (.number, .number), (.string, .string), (.bool, .bool): return []
        default: return ["\(path.isEmpty ? "(root)" : path): expected \(self), got \(actual)"]
        }
    }
}

/// Expects broker-sim's answer to have every field of the broker's sample, each of the same kind.
func expectSameShape(fixture path: String, simulator answer: JSONValue, ignoring: Set<String> = [],
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
    let differences = JSONShape(try Fixture.json(path)).differences(from: JSONShape(answer), ignoring: ignoring)
    #expect(differences.isEmpty, "broker-sim answers \(path)'s endpoint in another shape: \(differences.joined(separator: "; "))",
            sourceLocation: sourceLocation)
}
