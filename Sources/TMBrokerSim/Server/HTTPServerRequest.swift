import Foundation
import TMCore

/// One parsed HTTP/1.1 request as the simulator's server received it.
///
/// Guarantees: `path` never contains the query string; `query` is the raw text after `?` (kept raw
/// because Binance signs the exact bytes); header lookups are case-insensitive.
public struct HTTPServerRequest: Sendable {
    public let method: String
    public let path: String
    /// The raw query string (after `?`), empty when there is none.
    public let query: String
    public let headers: [(name: String, value: String)]
    public let body: Data

    public init(method: String, path: String, query: String, headers: [(name: String, value: String)], body: Data) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { ASCIIText.equalsIgnoringCase($0.name, name) }?.value
    }

    /// The body as UTF-8 text (lossy).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The query string's fields, percent-decoded, in order.
    public var queryFields: FormFields { FormFields(encoded: query) }

    /// The body's fields when it is form-encoded (percent-decoded, in order).
    public var formFields: FormFields { FormFields(body: body) }

    /// The same request with another path (used to strip a broker's prefix).
    public func withPath(_ newPath: String) -> HTTPServerRequest {
        HTTPServerRequest(method: method, path: newPath, query: query, headers: headers, body: body)
    }
}

/// Ordered `name=value` pairs from a query string or a form body.
///
/// Guarantees: `+` decodes to a space and `%XX` to its byte (invalid escapes are kept as written);
/// lookups return the first value, as most servers do.
public struct FormFields: Sendable {
    public let pairs: [(name: String, value: String)]

    public init(pairs: [(name: String, value: String)]) { self.pairs = pairs }

    public init(encoded: String) { self.init(bytes: Array(encoded.utf8), text: encoded) }

    /// `FormFields(encoded: String(decoding: body, as: UTF8.self))`, without making the text when
    /// the body is all ASCII.
    public init(body: Data) {
        let bytes = body.withUnsafeBytes { [UInt8]($0) }
        self.init(bytes: bytes, text: ASCIIText.isASCII(bytes) ? "" : String(decoding: bytes, as: UTF8.self))
    }

    /// `bytes` are `encoded.utf8`; `encoded` is only read when they are not all ASCII.
    private init(bytes: [UInt8], text encoded: String) {
        // In ASCII text every byte is one Character, so splitting the bytes splits as the text would.
        guard ASCIIText.isASCII(bytes) else {
            pairs = encoded.split(separator: "&", omittingEmptySubsequences: true).map { part in
                let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (FormFields.decode(pieces[0]), pieces.count > 1 ? FormFields.decode(pieces[1]) : "")
            }
            return
        }
        pairs = bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { part in
            guard let equals = part.firstIndex(of: UInt8(ascii: "=")) else { return (FormFields.decode(bytes: part), "") }
            return (FormFields.decode(bytes: part[..<equals]), FormFields.decode(bytes: part[(equals + 1)...]))
        }
    }

    public subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// A non-empty value, or nil.
    public func nonEmpty(_ name: String) -> String? {
        guard let value = self[name], !value.isEmpty else { return nil }
        return value
    }

    public static func decode<S: StringProtocol>(_ text: S) -> String {
        // Nothing to decode (path segments mostly): the text itself, without copying its bytes out.
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else { return String(text) }
        return decode(bytes: Array(text.utf8)[...])
    }

    static func decode(bytes text: ArraySlice<UInt8>) -> String {
        // Nothing to decode (most names and values): the text itself.
        guard text.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else {
            return String(decoding: text, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        var utf8 = text
        while let byte = utf8.popFirst() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%") where utf8.count >= 2:
                // Two hex digits exactly ("%+1" stays as it is: `UInt8(_:radix:)` would take the sign).
                let digits = utf8.prefix(2)
                if let high = HexDigit.value(digits.first!), let low = HexDigit.value(digits.last!) {
                    bytes.append(high << 4 | low)
                    utf8 = utf8.dropFirst(2)
                } else {
                    bytes.append(byte)
                }
            default:
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
