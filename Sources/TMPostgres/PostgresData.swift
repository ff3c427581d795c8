import Foundation
import TMCore

/// A Postgres type, identified by its OID.
///
/// Guarantees: the named constants are the fixed OIDs of the built-in types (stable across servers);
/// `.unknown` (OID 0) lets the server infer a parameter's type from context.
public struct PostgresDataType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ oid: UInt32) { self.rawValue = oid }

    public static let unknown = PostgresDataType(0)
    public static let bool = PostgresDataType(16)
    public static let bytea = PostgresDataType(17)
    public static let name = PostgresDataType(19)
    public static let int8 = PostgresDataType(20)
    public static let int2 = PostgresDataType(21)
    public static let int4 = PostgresDataType(23)
    public static let text = PostgresDataType(25)
    public static let oid = PostgresDataType(26)
    public static let json = PostgresDataType(114)
    public static let float4 = PostgresDataType(700)
    public static let float8 = PostgresDataType(701)
    public static let bpchar = PostgresDataType(1042)
    public static let varchar = PostgresDataType(1043)
    public static let date = PostgresDataType(1082)
    public static let timestamp = PostgresDataType(1114)
    public static let timestamptz = PostgresDataType(1184)
    public static let numeric = PostgresDataType(1700)
    public static let uuid = PostgresDataType(2950)
    public static let jsonb = PostgresDataType(3802)
    // Array types whose parameters travel in binary format (`PostgresArrayBinary`): a parameter
    // declared with one of these holds `array_send`'s bytes, not text.
    public static let boolArray = PostgresDataType(1000)
    public static let int4Array = PostgresDataType(1007)
    public static let textArray = PostgresDataType(1009)
    public static let int8Array = PostgresDataType(1016)
    public static let uuidArray = PostgresDataType(2951)
    public static let jsonbArray = PostgresDataType(3807)

    /// A parameter of this type is sent in binary format (`PostgresArrayBinary`'s array types).
    public var isBinary: Bool {
        switch self {
        case .boolArray, .int4Array, .textArray, .int8Array, .uuidArray, .jsonbArray: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .unknown: "unknown"
        case .bool: "bool"
        case .bytea: "bytea"
        case .name: "name"
        case .int8: "int8"
        case .int2: "int2"
        case .int4: "int4"
        case .text: "text"
        case .oid: "oid"
        case .json: "json"
        case .float4: "float4"
        case .float8: "float8"
        case .bpchar: "bpchar"
        case .varchar: "varchar"
        case .date: "date"
        case .timestamp: "timestamp"
        case .timestamptz: "timestamptz"
        case .numeric: "numeric"
        case .uuid: "uuid"
        case .jsonb: "jsonb"
        case .boolArray: "bool[] (binary)"
        case .int4Array: "int4[] (binary)"
        case .textArray: "text[] (binary)"
        case .int8Array: "int8[] (binary)"
        case .uuidArray: "uuid[] (binary)"
        case .jsonbArray: "jsonb[] (binary)"
        default: "oid \(rawValue)"
        }
    }
}

/// One parameter value in Postgres text format, with its declared type — or, for the array types of
/// `PostgresArrayBinary` (`type.isBinary`), in binary format.
///
/// Guarantees: `bytes == nil` is SQL NULL; otherwise the bytes are the value's text representation
/// as the server's input function for `type` accepts it (bytea as `\x` hex, so it never holds NUL),
/// or, when `type.isBinary`, `array_send`'s bytes of an array of that type.
public struct PostgresData: Sendable, Hashable {
    public var type: PostgresDataType
    public var bytes: [UInt8]?

    public init(type: PostgresDataType, bytes: [UInt8]?) {
        self.type = type
        self.bytes = bytes
    }

    public init(type: PostgresDataType, text: String) {
        self.init(type: type, bytes: Array(text.utf8))
    }

    /// Encodes any encodable value.
    public init(_ value: some PostgresEncodable) {
        self = value.postgresData()
    }

    /// An untyped NULL; the server infers the type from context.
    public static let null = PostgresData(type: .unknown, bytes: nil)
}

/// A Swift value that can be sent as a query parameter.
///
/// Guarantees (for conformers): `postgresData()` is total (never fails) and its text is accepted by the
/// input function of `postgresDataType`; the value travels as a bind parameter, never spliced into SQL.
public protocol PostgresEncodable {
    /// The type declared for the parameter; `.unknown` lets the server infer it.
    static var postgresDataType: PostgresDataType { get }
    func postgresData() -> PostgresData
    /// Appends the value as an element of an array literal (`PostgresArrayText`): NULL, or its
    /// `postgresData()` text double-quoted with `"` and `\` escaped. Conformers may write it directly.
    func appendPostgresArrayElement(to out: inout [UInt8])
}

extension PostgresEncodable {
    public func appendPostgresArrayElement(to out: inout [UInt8]) {
        PostgresArrayText.appendElement(postgresData().bytes, to: &out)
    }
}

/// A Swift value that can be decoded from a result column in text format.
///
/// Guarantees (for conformers): decoding is exact or fails with a `PostgresDecodingFailure` that
/// states the reason; it never rounds silently. NULL goes through `decodeNull()`, which fails for
/// every non-optional type.
public protocol PostgresDecodable {
    /// Decodes a non-NULL value from its text representation; `type` is the column's type.
    static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Self
    /// Decodes SQL NULL: only `Optional` succeeds (with `nil`).
    static func decodeNull() throws -> Self
}

extension PostgresDecodable {
    public static func decodeNull() throws -> Self {
        throw PostgresDecodingFailure("value is NULL; decode as \(Self.self)? to accept NULL")
    }
}

/// Convenience for types that are both.
public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

extension PostgresEncodable {
    func text(_ string: String) -> PostgresData { PostgresData(type: Self.postgresDataType, text: string) }
}

@inline(__always)
func utf8String(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

// MARK: - Optional

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { Wrapped.postgresDataType }
    public func postgresData() -> PostgresData {
        switch self {
        case .some(let value): value.postgresData()
        // A typed NULL, so `\(optionalInt)` works where the server could not infer the type.
        case .none: PostgresData(type: Wrapped.postgresDataType, bytes: nil)
        }
    }
    public func appendPostgresArrayElement(to out: inout [UInt8]) {
        switch self {
        case .some(let value): value.appendPostgresArrayElement(to: &out)
        case .none: PostgresArrayText.appendElement(nil, to: &out)
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Wrapped? {
        try Wrapped.decodePostgres(bytes, type: type)
    }
    public static func decodeNull() throws -> Wrapped? { nil }
}

extension PostgresData: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .unknown }
    public func postgresData() -> PostgresData { self }
}

// MARK: - Text

extension String: PostgresCodable {
    // Unknown rather than text: lets a string bind to enum, varchar, citext, jsonb... columns.
    public static var postgresDataType: PostgresDataType { .unknown }
    public func postgresData() -> PostgresData { text(self) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(utf8, to: &out) }
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> String {
        utf8String(bytes)
    }
}

extension Substring: PostgresEncodable {
    public static var postgresDataType: PostgresDataType { .unknown }
    public func postgresData() -> PostgresData { text(String(self)) }
}

// MARK: - Integers

extension PostgresDecodable where Self: FixedWidthInteger {
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Self {
        let text = utf8String(bytes)
        guard let value = Self(text, radix: 10) else {
            throw PostgresDecodingFailure(
                "'\(text.prefix(40))' (\(type)) is not an integer in the range of \(Self.self)")
        }
        return value
    }
}

// Array elements below are each type's `postgresData()` text quoted as `appendQuoted` quotes it,
// without the `PostgresData` (an array) per element: the default's bytes (`AllocEncodingTests`).

extension Int: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public func postgresData() -> PostgresData { text(String(self)) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(String(self).utf8, to: &out) }
}

extension Int64: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int8 }
    public func postgresData() -> PostgresData { text(String(self)) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(String(self).utf8, to: &out) }
}

extension Int32: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int4 }
    public func postgresData() -> PostgresData { text(String(self)) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(String(self).utf8, to: &out) }
}

extension Int16: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .int2 }
    public func postgresData() -> PostgresData { text(String(self)) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(String(self).utf8, to: &out) }
}

// MARK: - Bool

extension Bool: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .bool }
    public func postgresData() -> PostgresData { text(postgresText) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(postgresText.utf8, to: &out) }
    private var postgresText: String { self ? "t" : "f" }
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Bool {
        switch utf8String(bytes) {
        case "t", "true": return true
        case "f", "false": return false
        case let other: throw PostgresDecodingFailure("'\(other.prefix(40))' (\(type)) is not a boolean")
        }
    }
}

// MARK: - Floating point (not for money)

extension Double: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .float8 }
    public func postgresData() -> PostgresData {
        if isNaN { return text("NaN") }
        if isInfinite { return text(self < 0 ? "-Infinity" : "Infinity") }
        return text(description)  // shortest representation that round-trips
    }
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Double {
        let text = utf8String(bytes)
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default:
            guard let value = Double(text), value.isFinite else {
                throw PostgresDecodingFailure("'\(text.prefix(40))' (\(type)) is not a number")
            }
            return value
        }
    }
}

// MARK: - Decimal (numeric, exact)

extension Decimal: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .numeric }

    public func postgresData() -> PostgresData { text(postgresText) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(postgresText.utf8, to: &out) }

    // Decimal's description is plain positional notation ("-0.00000001"), which numeric accepts.
    private var postgresText: String { isNaN ? "NaN" : DecimalText.plain(self) }

    /// Foundation's Decimal holds 38 significant decimal digits; refuse anything longer rather than
    /// round, because these are amounts of money.
    public static let maximumSignificantDigits = 38

    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Decimal {
        try bytes.withUnsafeBufferPointer { try parseExactDecimal(utf8: $0, type: type) }
    }

    static func parseExactDecimal(_ text: String, type: PostgresDataType) throws -> Decimal {
        var text = text
        return try text.withUTF8 { try parseExactDecimal(utf8: $0, type: type) }
    }

    /// Reads the text in place: its digits go to a stack buffer and a value of at most 18 significant
    /// digits is built from one UInt64 (Decimal's arithmetic allocates on every operation; the result
    /// is the same value, with the same representation, as the chunked product below gives).
    static func parseExactDecimal(utf8 text: UnsafeBufferPointer<UInt8>, type: PostgresDataType) throws -> Decimal {
        func notANumber() -> PostgresDecodingFailure {
            let string = String(decoding: text, as: UTF8.self)
            let reason = (string == "NaN" || string.hasSuffix("Infinity"))
                ? "\(string) cannot be represented as Decimal"
                : "'\(string.prefix(48))' (\(type)) is not a decimal number"
            return PostgresDecodingFailure(reason)
        }
        var utf8 = text[...]
        var negative = false
        if let first = utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
            negative = first == UInt8(ascii: "-")
            utf8 = utf8.dropFirst()
        }
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(utf8.count, 1)) { buffer in
            // The significant digits are buffer[first..<end].
            var end = 0
            var fractionDigits = 0
            var seenPoint = false
            for byte in utf8 {
                if byte == UInt8(ascii: ".") && !seenPoint {
                    seenPoint = true
                } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    buffer[end] = byte - UInt8(ascii: "0")
                    end += 1
                    if seenPoint { fractionDigits += 1 }
                } else {
                    throw notANumber()
                }
            }
            guard end > 0 else { throw notANumber() }
            // Trailing fractional zeros carry no value; leading zeros neither.
            while fractionDigits > 0, buffer[end - 1] == 0 {
                end -= 1
                fractionDigits -= 1
            }
            var first = 0
            while first < end, buffer[first] == 0 { first += 1 }
            if first == end { return Decimal.zero }
            var exponent = -fractionDigits
            // Integer trailing zeros can move into the exponent, keeping the mantissa short.
            while end - first > maximumSignificantDigits, buffer[end - 1] == 0 {
                end -= 1
                exponent += 1
            }
            guard end - first <= maximumSignificantDigits else {
                throw PostgresDecodingFailure(
                    "numeric with \(end - first) significant digits exceeds Decimal's \(maximumSignificantDigits)")
            }
            guard exponent >= -128, exponent <= 127 else {
                throw PostgresDecodingFailure("numeric exponent \(exponent) is outside Decimal's range")
            }
            let sign: FloatingPointSign = negative ? .minus : .plus
            if end - first <= 18 {
                var value: UInt64 = 0
                for d in buffer[first..<end] { value = value * 10 + UInt64(d) }
                return Decimal(sign: sign, exponent: exponent, significand: Decimal(value))
            }
            // Integer arithmetic on at most 38 digits, in chunks of up to 18 that fit a UInt64: every
            // intermediate value is an integer below 10^38, which Decimal holds exactly.
            var significand = Decimal.zero
            var start = first
            while start < end {
                let chunkEnd = min(start + 18, end)
                var chunk: UInt64 = 0
                for d in buffer[start..<chunkEnd] { chunk = chunk * 10 + UInt64(d) }
                var scale = Decimal(1)
                for _ in start..<chunkEnd { scale *= 10 }
                significand = significand * scale + Decimal(chunk)
                start = chunkEnd
            }
            return Decimal(sign: sign, exponent: exponent, significand: significand)
        }
    }
}

// MARK: - UUID

extension UUID: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .uuid }
    public func postgresData() -> PostgresData { text(UUIDText.lower(self)) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) {
        // Hex digits and dashes: nothing to escape.
        out.append(UInt8(ascii: "\""))
        UUIDText.appendLower(self, to: &out)
        out.append(UInt8(ascii: "\""))
    }
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> UUID {
        guard let uuid = bytes.withUnsafeBufferPointer(UUIDText.parse(utf8:)) else {
            throw PostgresDecodingFailure("'\(utf8String(bytes).prefix(40))' (\(type)) is not a UUID")
        }
        return uuid
    }
}

// MARK: - bytea

extension PostgresData {
    static func byteaHex<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        out.reserveCapacity(2 + bytes.count * 2)
        for b in bytes {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0x0f)])
        }
        return out
    }

    static func decodeByteaHex(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> [UInt8] {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\\"),
              bytes[bytes.startIndex + 1] == UInt8(ascii: "x"), bytes.count % 2 == 0
        else {
            throw PostgresDecodingFailure("(\(type)) is not bytea in hex format (bytea_output must be 'hex')")
        }
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count - 2) / 2)
        var i = bytes.startIndex + 2
        while i < bytes.endIndex {
            guard let hi = HexDigit.value(bytes[i]), let lo = HexDigit.value(bytes[i + 1]) else {
                throw PostgresDecodingFailure("(\(type)) has an invalid hex digit in bytea")
            }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

extension Array: PostgresEncodable where Element == UInt8 {
    public static var postgresDataType: PostgresDataType { .bytea }
    public func postgresData() -> PostgresData { PostgresData(type: .bytea, bytes: PostgresData.byteaHex(self)) }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> [UInt8] {
        try PostgresData.decodeByteaHex(bytes, type: type)
    }
}

extension Data: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .bytea }
    public func postgresData() -> PostgresData { PostgresData(type: .bytea, bytes: PostgresData.byteaHex(self)) }
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Data {
        Data(try PostgresData.decodeByteaHex(bytes, type: type))
    }
}

// MARK: - JSON

/// A JSON document for `jsonb` (or `json`) columns, carried as raw UTF-8 bytes.
///
/// Guarantees: the bytes are sent and received unchanged (the server validates them on insert);
/// `decode` / `init(encoding:)` bridge to `Codable` with the given coders.
public struct PostgresJSON: Sendable, Hashable, PostgresCodable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(data: Data) { self.bytes = Array(data) }

    /// Encodes `value` with `encoder` (sorted keys by default, so equal values give equal bytes).
    public init<T: Encodable>(encoding value: T, encoder: JSONEncoder = PostgresJSON.defaultEncoder()) throws {
        self.bytes = Array(try encoder.encode(value))
    }

    public static func defaultEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }
    public var data: Data { Data(bytes) }
    public var description: String { string }

    public func decode<T: Decodable>(_ type: T.Type, decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(type, from: Data(bytes))
    }

    public static var postgresDataType: PostgresDataType { .jsonb }
    public func postgresData() -> PostgresData { PostgresData(type: .jsonb, bytes: bytes) }
    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> PostgresJSON {
        PostgresJSON(bytes: Array(bytes))
    }
}

// MARK: - Date (timestamptz)

extension Date: PostgresCodable {
    public static var postgresDataType: PostgresDataType { .timestamptz }

    /// Sent in UTC with microseconds, the precision of timestamptz.
    public func postgresData() -> PostgresData { text(postgresText) }
    public func appendPostgresArrayElement(to out: inout [UInt8]) { PostgresArrayText.appendQuoted(postgresText.utf8, to: &out) }
    private var postgresText: String { PostgresTimestamp.format(microseconds: PostgresTimestamp.microseconds(of: self)) }

    public static func decodePostgres(_ bytes: ArraySlice<UInt8>, type: PostgresDataType) throws -> Date {
        let micros = try bytes.withUnsafeBufferPointer { try PostgresTimestamp.parse(utf8: $0, type: type) }
        return PostgresTimestamp.date(microseconds: micros)
    }
}

/// Conversion between instants and Postgres' ISO timestamp text, on integer microseconds so that
/// the value is never rounded through a calendar.
enum PostgresTimestamp {
    static func microseconds(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    static func date(microseconds: Int64) -> Date {
        // Whole seconds and the fraction separately keep microseconds exact in the Double.
        let (seconds, micros) = microseconds.quotientAndRemainder(dividingBy: 1_000_000)
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        Int64(CivilDays.days(year: Int(year), month: Int(month), day: Int(day)))
    }

    static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let (year, month, day) = CivilDays.civil(Int(days))
        return (Int64(year), Int64(month), Int64(day))
    }

    static func format(microseconds: Int64) -> String {
        let perDay: Int64 = 86_400_000_000
        var days = microseconds / perDay
        var rem = microseconds % perDay
        if rem < 0 { rem += perDay; days -= 1 }
        let (year, month, day) = civilFromDays(days)
        let secondsOfDay = rem / 1_000_000
        let micros = rem % 1_000_000
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        // Year 0 is 1 BC in Postgres' (and the Gregorian) numbering.
        let (displayYear, era) = year <= 0 ? (1 - year, " BC") : (year, "")
        return "\(pad(displayYear, 4))-\(pad(month, 2))-\(pad(day, 2)) "
            + "\(pad(secondsOfDay / 3600, 2)):\(pad(secondsOfDay / 60 % 60, 2)):\(pad(secondsOfDay % 60, 2))"
            + ".\(pad(micros, 6))+00\(era)"
    }

    /// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]][±HH[:MM[:SS]]]` (DateStyle ISO) into microseconds since
    /// 1970 UTC. A value without an offset (timestamp, date) is taken as UTC.
    static func parse(_ text: String, type: PostgresDataType) throws -> Int64 {
        var text = text
        return try text.withUTF8 { try parse(utf8: $0, type: type) }
    }

    /// `parse` over a value's bytes where they are (a result's cell): no `String` and no array made
    /// unless it fails (a lone order decodes ~6 timestamps; through a `String` and an array each cost
    /// ~3.3k instructions). The same verdicts and messages: the bytes it tests are ASCII, and the
    /// text of a message is the bytes decoded as `String(decoding:)` does.
    static func parse(utf8 chars: UnsafeBufferPointer<UInt8>, type: PostgresDataType) throws -> Int64 {
        func text() -> String { String(decoding: chars, as: UTF8.self) }
        func bytesAre(_ ascii: StaticString) -> Bool {
            chars.count == ascii.utf8CodeUnitCount && memcmp(chars.baseAddress!, ascii.utf8Start, chars.count) == 0
        }
        if bytesAre("infinity") || bytesAre("-infinity") {
            throw PostgresDecodingFailure("\(text()) (\(type)) cannot be represented as Date")
        }
        // " BC" at the bytes' end; `hasSuffix` then decides as before (by characters).
        if chars.count >= 3, chars[chars.count - 3] == UInt8(ascii: " "), chars[chars.count - 2] == UInt8(ascii: "B"),
           chars[chars.count - 1] == UInt8(ascii: "C"), text().hasSuffix(" BC") {
            throw PostgresDecodingFailure("'\(text().prefix(40))' (\(type)) is a BC date, which is not supported")
        }
        func fail() -> PostgresDecodingFailure {
            PostgresDecodingFailure("'\(text().prefix(40))' (\(type)) is not an ISO timestamp (DateStyle must be ISO)")
        }
        var i = 0
        func number(minDigits: Int, maxDigits: Int) throws -> Int64 {
            var value: Int64 = 0
            var count = 0
            while i < chars.count, count < maxDigits, chars[i] >= 48, chars[i] <= 57 {
                value = value * 10 + Int64(chars[i] - 48)
                i += 1
                count += 1
            }
            guard count >= minDigits else { throw fail() }
            return value
        }
        func expect(_ c: Unicode.Scalar) throws {
            guard i < chars.count, chars[i] == UInt8(ascii: c) else { throw fail() }
            i += 1
        }
        let year = try number(minDigits: 4, maxDigits: 9)
        try expect("-")
        let month = try number(minDigits: 2, maxDigits: 2)
        try expect("-")
        let day = try number(minDigits: 2, maxDigits: 2)
        guard (1...12).contains(month), (1...31).contains(day) else { throw fail() }
        var micros: Int64 = 0
        if i < chars.count, chars[i] == UInt8(ascii: " ") || chars[i] == UInt8(ascii: "T") {
            i += 1
            let hour = try number(minDigits: 2, maxDigits: 2)
            try expect(":")
            let minute = try number(minDigits: 2, maxDigits: 2)
            try expect(":")
            let second = try number(minDigits: 2, maxDigits: 2)
            guard hour <= 24, minute <= 59, second <= 60 else { throw fail() }
            micros = ((hour * 60 + minute) * 60 + second) * 1_000_000
            if i < chars.count, chars[i] == UInt8(ascii: ".") {
                i += 1
                var fraction: Int64 = 0
                var digits = 0
                while i < chars.count, chars[i] >= 48, chars[i] <= 57 {
                    if digits < 6 { fraction = fraction * 10 + Int64(chars[i] - 48) }
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { throw fail() }
                for _ in digits..<max(digits, 6) { fraction *= 10 }
                micros += fraction
            }
        }
        var offsetSeconds: Int64 = 0
        if i < chars.count {
            let sign: Int64
            switch chars[i] {
            case UInt8(ascii: "+"): sign = 1
            case UInt8(ascii: "-"): sign = -1
            case UInt8(ascii: "Z"):
                sign = 0
            default: throw fail()
            }
            i += 1
            if sign != 0 {
                let hours = try number(minDigits: 2, maxDigits: 2)
                var minutes: Int64 = 0
                var seconds: Int64 = 0
                if i < chars.count, chars[i] == UInt8(ascii: ":") {
                    i += 1
                    minutes = try number(minDigits: 2, maxDigits: 2)
                    if i < chars.count, chars[i] == UInt8(ascii: ":") {
                        i += 1
                        seconds = try number(minDigits: 2, maxDigits: 2)
                    }
                }
                offsetSeconds = sign * (hours * 3600 + minutes * 60 + seconds)
            }
        }
        guard i == chars.count else { throw fail() }
        let days = daysFromCivil(year: year, month: month, day: day)
        // Past ±292,277 years from 1970 (Postgres stores up to 294276 AD; the text allows 9-digit
        // years) the microseconds leave Int64: a refusal, not a trap.
        let (dayMicros, o1) = days.multipliedReportingOverflow(by: 86_400_000_000)
        let (local, o2) = dayMicros.addingReportingOverflow(micros)
        let (utc, o3) = local.subtractingReportingOverflow(offsetSeconds * 1_000_000)
        guard !o1, !o2, !o3 else { throw PostgresDecodingFailure("'\(text().prefix(40))' (\(type)) cannot be represented as Date") }
        return utc
    }
}
