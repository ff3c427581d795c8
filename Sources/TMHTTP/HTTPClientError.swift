import CCurl

/// Why a request failed without producing a response, classified by what the caller may safely
/// do next.
///
/// Guarantees: `.notSent` is only used when no byte of the request can have left this process (the
/// URL was rejected, DNS failed, the connection or the TLS handshake failed or timed out), so
/// re-sending cannot duplicate an order. Everything else — a timeout or a reset after sending began,
/// a truncated or missing response, any failure we cannot place — is `.outcomeUnknown`: the server
/// may have acted on the request, so an order must be looked up by its client order id before it is
/// sent again. When in doubt the classification is `.outcomeUnknown`, never `.notSent`.
/// Descriptions name the method and a redacted URL (no query, no user info) and never contain
/// request bodies or header values.
public enum HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// The request certainly never reached the server; a retry is safe.
    case notSent(Failure)
    /// The request may have reached the server; look the effect up before re-sending.
    case outcomeUnknown(Failure)

    /// What went wrong, for logs and metrics.
    public enum Kind: String, Sendable, Hashable {
        /// Rejected before any I/O: malformed URL, unsupported scheme, a header with CR/LF.
        case invalidRequest
        case dnsFailure
        case connectFailed
        case tlsFailure
        case timeout
        /// The connection broke (reset, closed, nothing or partial response received).
        case connectionLost
        /// The response body exceeded `Configuration.maxResponseBytes`.
        case responseTooLarge
        /// The request's `ConnectionGuard` refused the address libcurl was about to talk to.
        case addressRefused
        case other
    }

    /// The details of one failure.
    public struct Failure: Sendable, CustomStringConvertible {
        public var kind: Kind
        /// The libcurl code (`CURLcode`), or nil when the request was rejected before libcurl ran.
        public var curlCode: Int?
        /// libcurl's message (its error buffer, else `curl_easy_strerror`), or our own reason.
        public var message: String
        public var method: HTTPMethod
        /// The URL without query string or user info.
        public var url: String

        public init(kind: Kind, curlCode: Int?, message: String, method: HTTPMethod, url: String) {
            self.kind = kind
            self.curlCode = curlCode
            self.message = message
            self.method = method
            self.url = url
        }

        public var description: String {
            let code = curlCode.map { " (curl \($0))" } ?? ""
            return "\(method.rawValue) \(url): \(kind.rawValue)\(code): \(message)"
        }
    }

    public var failure: Failure {
        switch self {
        case .notSent(let f), .outcomeUnknown(let f): return f
        }
    }

    /// True unless the request certainly never reached the server.
    public var mayHaveReachedServer: Bool {
        if case .notSent = self { return false }
        return true
    }

    public var kind: Kind { failure.kind }
    public var curlCode: Int? { failure.curlCode }

    public var description: String {
        switch self {
        case .notSent(let f): return "request not sent: \(f)"
        case .outcomeUnknown(let f): return "request outcome unknown: \(f)"
        }
    }
}

extension HTTPClientError {
    /// What libcurl reported about how far the transfer got, used to decide whether bytes left.
    struct Progress {
        /// CURLINFO_REQUEST_SIZE: bytes of request headers sent.
        var requestSize: Int
        /// CURLINFO_SIZE_UPLOAD_T: body bytes sent.
        var uploaded: Int
        /// CURLINFO_PRETRANSFER_TIME_T in µs: nonzero once the connection was ready and sending began.
        var pretransferMicros: Int
        /// CURLINFO_STARTTRANSFER_TIME_T in µs: nonzero once a response byte arrived.
        var startTransferMicros: Int
        /// PREREQFUNCTION calls: a connection was ready and the request about to be written.
        var attempts: Int

        /// Any sign that the request started going onto the wire.
        var sendingStarted: Bool {
            attempts > 0 || requestSize > 0 || uploaded > 0 || pretransferMicros > 0 || startTransferMicros > 0
        }
    }

    /// Classifies a failed `curl_easy_perform` by its code AND by how far the transfer got: a code
    /// that can only arise before sending still counts as "may have reached" if there is any sign
    /// that sending started (e.g. after a followed redirect), and a code we do not recognise is
    /// never called safe.
    static func classify(code: CURLcode, message: String, progress: Progress, method: HTTPMethod, url: String) -> HTTPClientError {
        let kind: Kind
        var beforeSendingCode = true
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_NOT_BUILT_IN, CURLE_BAD_FUNCTION_ARGUMENT,
             CURLE_FAILED_INIT:
            kind = .invalidRequest
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .dnsFailure
        case CURLE_COULDNT_CONNECT, CURLE_INTERFACE_FAILED, CURLE_PROXY:
            kind = .connectFailed
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
             CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CRL_BADFILE, CURLE_USE_SSL_FAILED:
            kind = .tlsFailure
        case CURLE_OPERATION_TIMEDOUT:
            // A connect timeout and a timeout while waiting for the response share this code;
            // only the progress tells them apart.
            kind = .timeout
        case CURLE_SEND_ERROR:
            kind = .connectionLost
        case CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM,
             CURLE_WEIRD_SERVER_REPLY, CURLE_BAD_CONTENT_ENCODING:
            kind = .connectionLost
            beforeSendingCode = false
        default:
            kind = .other
            beforeSendingCode = false
        }
        let failure = Failure(kind: kind, curlCode: Int(code.rawValue), message: message, method: method, url: url)
        if beforeSendingCode && !progress.sendingStarted { return .notSent(failure) }
        return .outcomeUnknown(failure)
    }
}
