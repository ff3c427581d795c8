import Foundation
import TMCore

/// Array literals for binding a list as one parameter (`= ANY($1::uuid[])`,
/// `unnest($1::uuid[], $2::numeric[])`): one bind instead of a statement per element.
public enum PostgresArrayText {
    /// `{id,id,...}` in the given order (an `unnest` beside another array pairs them by position).
    public static func uuids<S: Sequence<UUID>>(_ ids: S) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(ids.underestimatedCount * 37 + 2)
        for (index, id) in ids.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            UUIDText.appendLower(id, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// A one-dimensional array literal of any values in their text form, in order: every element
    /// double-quoted with `"` and `\` escaped (so commas, braces, quotes and spaces in text survive),
    /// NULL for a nil or NULL element. Cast the parameter to the element type's array in SQL.
    public static func literal(_ elements: [PostgresData?]) -> String {
        String(decoding: literalBytes(elements), as: UTF8.self)
    }

    /// `literal(_:)` as bytes, as a parameter carries them.
    static func literalBytes(_ elements: [PostgresData?]) -> [UInt8] {
        build(count: elements.count) { index, out in appendElement(elements[index]?.bytes, to: &out) }
    }

    /// `literal(_:)` of encodable values, each written straight into the literal (no `PostgresData`
    /// per element): the same bytes as `literalBytes(values.map { $0.postgresData() })`.
    static func literalBytes<T: PostgresEncodable>(_ values: [T]) -> [UInt8] {
        build(count: values.count) { index, out in values[index].appendPostgresArrayElement(to: &out) }
    }

    private static func build(count: Int, _ element: (Int, inout [UInt8]) -> Void) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(count * 40 + 2)
        for index in 0..<count {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            element(index, &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// One element: NULL for nil, else the text double-quoted with `"` and `\` escaped.
    static func appendElement(_ bytes: [UInt8]?, to out: inout [UInt8]) {
        guard let bytes else {
            out.append(contentsOf: "NULL".utf8)
            return
        }
        appendQuoted(bytes, to: &out)
    }

    /// The text double-quoted with `"` and `\` escaped by a backslash; every other byte as it is.
    static func appendQuoted<C: Collection<UInt8>>(_ bytes: C, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // JSON payloads are long and mostly clean: copy the runs between escapes whole.
        if bytes.withContiguousStorageIfAvailable({ appendEscaped($0, to: &out) }) == nil {
            for byte in bytes {  // not contiguous (a bridged string): byte by byte
                if needsEscape(byte) { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `bytes` escaped, each run up to the next byte needing a backslash appended in one copy.
    private static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var runStart = 0
        for index in bytes.indices where needsEscape(bytes[index]) {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            out.append(UInt8(ascii: "\\"))
            runStart = index  // the escaped byte itself opens the next run
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }
}

extension PostgresData {
    /// The elements as one array parameter (`PostgresArrayText.literal`): bind it cast to the
    /// element type's array, e.g. `unnest(\(ids)::uuid[], \(prices)::numeric[])`.
    public static func array(_ elements: [PostgresData?]) -> PostgresData {
        PostgresData(type: .unknown, bytes: PostgresArrayText.literalBytes(elements))
    }

    /// `array(_:)` of encodable values (an optional's nil is NULL).
    public static func array<T: PostgresEncodable>(_ values: [T]) -> PostgresData {
        PostgresData(type: .unknown, bytes: PostgresArrayText.literalBytes(values))
    }
}
