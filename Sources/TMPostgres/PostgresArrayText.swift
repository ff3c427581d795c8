import Foundation

/// Array literals for binding a list as one parameter (`= ANY($1::uuid[])`,
/// `unnest($1::uuid[], $2::numeric[])`): one bind instead of a statement per element.
public enum PostgresArrayText {
    /// `{id,id,...}` in the given order (an `unnest` beside another array pairs them by position).
    public static func uuids<S: Sequence<UUID>>(_ ids: S) -> String {
        "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
    }

    /// A one-dimensional array literal of any values in their text form, in order: every element
    /// double-quoted with `"` and `\` escaped (so commas, braces, quotes and spaces in text survive),
    /// NULL for a nil or NULL element. Cast the parameter to the element type's array in SQL.
    public static func literal(_ elements: [PostgresData?]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(elements.count * 16 + 2)
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard let bytes = element?.bytes else {
                out += Array("NULL".utf8)
                continue
            }
            out.append(UInt8(ascii: "\""))
            for byte in bytes {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension PostgresData {
    /// The elements as one array parameter (`PostgresArrayText.literal`): bind it cast to the
    /// element type's array, e.g. `unnest(\(ids)::uuid[], \(prices)::numeric[])`.
    public static func array(_ elements: [PostgresData?]) -> PostgresData {
        PostgresData(type: .unknown, text: PostgresArrayText.literal(elements))
    }

    /// `array(_:)` of encodable values (an optional's nil is NULL).
    public static func array<T: PostgresEncodable>(_ values: [T]) -> PostgresData {
        PostgresData(type: .unknown, text: PostgresArrayText.literal(values.map { Optional($0.postgresData()) }))
    }
}
