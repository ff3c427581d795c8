import Foundation
import TMCore

/// A complete response for the simulator's server to write.
///
/// Guarantees: `Content-Length` is always computed by the server from `body`; headers are written in
/// the order given.
public struct HTTPServerResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: Data

    public init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response (`Content-Type: application/json`).
    public static func json(_ status: Int, _ value: JSONValue, headers: [(name: String, value: String)] = []) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: Data(utf8: value.text))
    }

    /// A response with no body (e.g. Alpaca's 204 on cancel).
    public static func empty(_ status: Int) -> HTTPServerResponse { HTTPServerResponse(status: status) }

    public func header(_ name: String) -> String? {
        headers.first { ASCIIText.equalsIgnoringCase($0.name, name) }?.value
    }

    /// The same response with more headers appended.
    public func adding(headers extra: [(name: String, value: String)]) -> HTTPServerResponse {
        var copy = self
        copy.headers += extra
        return copy
    }
}

extension Data {
    /// The text's UTF-8 bytes, copied in one go (`Data(text.utf8)` looks for contiguous storage
    /// through dynamic casts, which cost more than the copy).
    init(utf8 text: String) {
        var text = text
        self = text.withUTF8 { Data(buffer: $0) }
    }

    /// The bytes, copied in one go (see `init(utf8:)`).
    init(copying bytes: [UInt8]) { self = bytes.withUnsafeBufferPointer { Data(buffer: $0) } }
}
