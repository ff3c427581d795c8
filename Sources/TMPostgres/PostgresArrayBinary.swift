import Foundation

/// Array parameters in Postgres's binary format (`array_recv`), for the order path's batches.
///
/// A text array parameter (`PostgresArrayText`) is parsed byte by byte by the server's `array_in` —
/// quotes, backslashes, then each element through its type's text input: ~33 instructions a byte,
/// ~114k of an order's ~1.14M Postgres instructions in the group commit's batches, its JSON payloads
/// the bulk (Benchmarks/OrderBench/PROFILE.md, session 33 (pgbatch)). In binary format the server
/// reads each element's length and hands its bytes to the type's receive function: a uuid is 16
/// bytes, a text is its UTF-8 bytes (checked, not unescaped), a jsonb its text after a version byte
/// (parsed as by `jsonb_in`).
///
/// Guarantees: the bytes are `array_send`'s layout — one dimension, lower bound 1, the NULL flag set
/// when an element is NULL (length -1), the element type's OID — and each element is exactly the value
/// the text format gives (`PostgresArrayBinaryTests` compares every type both ways on the server).
/// Only types whose binary form is their plain bytes or a fixed-width integer are here: numeric and
/// timestamptz arrays stay in text (exact decimal and time text; their binary forms would buy ~10k an
/// order). The parameter's declared type is the array type (`PostgresDataType.uuidArray`, ...), which
/// is also what makes `PostgresConnection` send it in binary format.
public enum PostgresArrayBinary {
    /// `array_send`'s layout of `count` elements of `element`, each written by `write` (nil: NULL).
    static func build(element: PostgresDataType, count: Int, bytesHint: Int,
                      _ write: (Int, inout [UInt8]) -> Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20 + count * (4 + bytesHint))
        append(Int32(1), to: &out)  // dimensions
        append(Int32(0), to: &out)  // has NULLs: set below
        append(element.rawValue, to: &out)
        append(Int32(count), to: &out)
        append(Int32(1), to: &out)  // lower bound
        var hasNull = false
        for index in 0..<count {
            let lengthAt = out.count
            append(Int32(0), to: &out)
            if write(index, &out) {
                let length = UInt32(out.count - lengthAt - 4)
                out.withUnsafeMutableBufferPointer { store(length, at: lengthAt, in: $0) }
            } else {
                hasNull = true
                out.withUnsafeMutableBufferPointer { store(UInt32(bitPattern: -1), at: lengthAt, in: $0) }
            }
        }
        if hasNull { out[7] = 1 }
        return out
    }

    static func append(_ value: Int32, to out: inout [UInt8]) { append(UInt32(bitPattern: value), to: &out) }

    static func append(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value >> 24)); out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 8)); out.append(UInt8(truncatingIfNeeded: value))
    }

    static func append(_ value: Int64, to out: inout [UInt8]) {
        let bits = UInt64(bitPattern: value)
        append(UInt32(truncatingIfNeeded: bits >> 32), to: &out)
        append(UInt32(truncatingIfNeeded: bits), to: &out)
    }

    private static func store(_ value: UInt32, at offset: Int, in buffer: UnsafeMutableBufferPointer<UInt8>) {
        buffer[offset] = UInt8(truncatingIfNeeded: value >> 24); buffer[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        buffer[offset + 2] = UInt8(truncatingIfNeeded: value >> 8); buffer[offset + 3] = UInt8(truncatingIfNeeded: value)
    }
}

extension PostgresData {
    /// A `uuid[]` parameter in binary format.
    public static func binaryArray(_ values: [UUID?]) -> PostgresData {
        PostgresData(type: .uuidArray, bytes: PostgresArrayBinary.build(element: .uuid, count: values.count, bytesHint: 16) { index, out in
            guard let id = values[index] else { return false }
            withUnsafeBytes(of: id.uuid) { out.append(contentsOf: $0) }
            return true
        })
    }

    /// A `text[]` parameter in binary format (each element its UTF-8 bytes).
    public static func binaryArray(text values: [String?]) -> PostgresData {
        PostgresData(type: .textArray, bytes: strings(values, element: .text, version: nil))
    }

    /// A `jsonb[]` parameter in binary format: each element JSON text (jsonb's version byte, then the
    /// text, which the server parses as `jsonb_in` does).
    public static func binaryArray(jsonb values: [String?]) -> PostgresData {
        PostgresData(type: .jsonbArray, bytes: strings(values, element: .jsonb, version: 1))
    }

    /// A `bigint[]` parameter in binary format.
    public static func binaryArray(_ values: [Int64?]) -> PostgresData {
        PostgresData(type: .int8Array, bytes: PostgresArrayBinary.build(element: .int8, count: values.count, bytesHint: 8) { index, out in
            guard let value = values[index] else { return false }
            PostgresArrayBinary.append(value, to: &out)
            return true
        })
    }

    /// An `integer[]` parameter in binary format.
    public static func binaryArray(_ values: [Int32?]) -> PostgresData {
        PostgresData(type: .int4Array, bytes: PostgresArrayBinary.build(element: .int4, count: values.count, bytesHint: 4) { index, out in
            guard let value = values[index] else { return false }
            PostgresArrayBinary.append(value, to: &out)
            return true
        })
    }

    /// A `boolean[]` parameter in binary format.
    public static func binaryArray(_ values: [Bool?]) -> PostgresData {
        PostgresData(type: .boolArray, bytes: PostgresArrayBinary.build(element: .bool, count: values.count, bytesHint: 1) { index, out in
            guard let value = values[index] else { return false }
            out.append(value ? 1 : 0)
            return true
        })
    }

    private static func strings(_ values: [String?], element: PostgresDataType, version: UInt8?) -> [UInt8] {
        PostgresArrayBinary.build(element: element, count: values.count, bytesHint: 32) { index, out in
            guard var value = values[index] else { return false }
            if let version { out.append(version) }
            value.withUTF8 { out.append(contentsOf: $0) }
            return true
        }
    }
}
