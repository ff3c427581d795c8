import Foundation

/// The HTTP methods a broker adapter needs.
public enum HTTPMethod: String, Sendable, Hashable, CaseIterable {
    case get = "GET"
    case head = "HEAD"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"

    /// RFC 9110 idempotent methods: repeating one has the same effect as sending it once, so a
    /// transparent retry on a fresh connection is allowed. POST and PATCH are never retried silently.
    public var isIdempotent: Bool {
        switch self {
        case .get, .head, .put, .delete: return true
        case .post, .patch: return false
        }
    }
}

/// One HTTP request: a value, safe to build on any thread and hand to a client on another.
///
/// Guarantees: headers keep their order and duplicates; a body's bytes are sent exactly as given
/// (form bodies are percent-encoded with `HTTPRequest.percentEncode`); `description` never shows
/// the body, header values or the query string, because those carry credentials and signatures.
public struct HTTPRequest: Sendable, CustomStringConvertible {
    /// What is sent after the headers, and the `Content-Type` it implies.
    public enum Body: Sendable {
        /// No body. A POST/PUT/PATCH without a body is sent with `Content-Length: 0`.
        case none
        /// `application/x-www-form-urlencoded`; names and values are percent-encoded, in order.
        case form([(String, String)])
        /// `application/json`, already encoded.
        case json(Data)
        /// Any bytes with the given content type.
        case raw(Data, contentType: String)

        /// A JSON body from an `Encodable` value.
        public static func json<T: Encodable>(encoding value: T, encoder: JSONEncoder = JSONEncoder()) throws -> Body {
            .json(try encoder.encode(value))
        }

        /// The bytes on the wire and their content type, or nil for `.none`.
        public var encoded: (data: Data, contentType: String)? {
            switch self {
            case .none: return nil
            case .form(let fields): return (Data(HTTPRequest.formBytes(fields)), "application/x-www-form-urlencoded")
            case .json(let data): return (data, "application/json")
            case .raw(let data, let contentType): return (data, contentType)
            }
        }
    }

    public var method: HTTPMethod
    /// An absolute `http://` or `https://` URL; build query strings with `HTTPRequest.url(_:query:)`.
    public var url: String
    /// Request headers in order; a header set here replaces the one the body would imply.
    public var headers: [(name: String, value: String)]
    public var body: Body
    /// Limit for the whole exchange (connect, send, wait, receive); nil uses the client's default.
    public var timeout: Duration?
    /// Limit for establishing the connection (DNS, TCP, TLS); nil uses the client's default.
    public var connectTimeout: Duration?
    /// Checks every peer address at connect time (and no proxy is used); nil connects anywhere.
    public var connectionGuard: ConnectionGuard?

    public init(
        _ method: HTTPMethod,
        _ url: String,
        headers: [(name: String, value: String)] = [],
        body: Body = .none,
        timeout: Duration? = nil,
        connectTimeout: Duration? = nil,
        connectionGuard: ConnectionGuard? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.connectionGuard = connectionGuard
    }

    /// Appends a header (duplicates are kept, as HTTP allows).
    public mutating func addHeader(_ name: String, _ value: String) {
        headers.append((name, value))
    }

    /// The first value of a header, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { HTTPHeaderName.same($0.name, name) }?.value
    }

    /// `GET url` — method, URL and header names only: no values, no query, no body.
    public var description: String {
        let names = headers.map(\.name).joined(separator: ", ")
        return "\(method.rawValue) \(HTTPRequest.redactedURL(url))" + (names.isEmpty ? "" : " [headers: \(names)]")
    }

    // MARK: Encoding helpers

    /// RFC 3986 unreserved characters: the only ones left as they are, so `&`, `=`, `+`, space and
    /// non-ASCII always arrive as data, never as syntax.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Percent-encodes every byte of the UTF-8 form except RFC 3986 unreserved characters (space is `%20`).
    public static func percentEncode(_ string: String) -> String {
        // Most values (symbols, ids, numbers) need nothing: hand them back without a copy.
        guard string.utf8.contains(where: { !isUnreserved($0) }) else { return string }
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count * 3)
        appendPercentEncoded(string, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `percentEncode`'s bytes appended to `out`, so a whole form is built in one buffer.
    /// Runs of unreserved bytes are copied whole (most values are one run), not byte by byte.
    static func appendPercentEncoded(_ string: String, to out: inout [UInt8]) {
        let hex: StaticString = "0123456789ABCDEF"
        var string = string
        string.withUTF8 { bytes in
            var run = 0
            for index in bytes.indices where !isUnreserved(bytes[index]) {
                if run < index { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index])) }
                run = index + 1
                let byte = bytes[index]
                out.append(UInt8(ascii: "%"))
                out.append(hex.utf8Start[Int(byte >> 4)])
                out.append(hex.utf8Start[Int(byte & 0x0F)])
            }
            if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
        }
    }

    /// `a=1&b=x%20y` — the form/query encoding of ordered pairs.
    public static func formEncode(_ fields: [(String, String)]) -> String {
        String(decoding: formBytes(fields), as: UTF8.self)
    }

    /// `formEncode`'s UTF-8 bytes, built in one buffer (a form body goes to the wire as bytes).
    static func formBytes(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        // Room for every field unescaped and some escapes: one allocation for a typical form.
        out.reserveCapacity(fields.reduce(16) { $0 + $1.0.utf8.count + $1.1.utf8.count + 8 })
        for (index, (name, value)) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            appendPercentEncoded(name, to: &out)
            out.append(UInt8(ascii: "="))
            appendPercentEncoded(value, to: &out)
        }
        return out
    }

    /// `base` with the encoded query appended (`?` or `&` as `base` needs); an empty query leaves `base` as is.
    public static func url(_ base: String, query: [(String, String)]) -> String {
        guard !query.isEmpty else { return base }
        let separator = base.contains("?") ? (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&") : "?"
        return base + separator + formEncode(query)
    }

    /// Scheme, host, port and path only: user info and query strings may hold credentials or signatures.
    public static func redactedURL(_ url: String) -> String {
        var s = Substring(url)
        if let cut = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<cut] }
        if let schemeEnd = s.range(of: "://") {
            let authorityStart = schemeEnd.upperBound
            let authorityEnd = s[authorityStart...].firstIndex(of: "/") ?? s.endIndex
            if let at = s[authorityStart..<authorityEnd].lastIndex(of: "@") {
                return String(s[..<authorityStart]) + "***@" + String(s[s.index(after: at)...])
            }
        }
        return String(s)
    }
}
