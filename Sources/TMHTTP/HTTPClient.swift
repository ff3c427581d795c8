import CCurl
import Foundation
import TMCore

/// libcurl's process-wide setup. `curl_global_init` is not thread-safe and must run once before any
/// handle is made; a static let is initialised exactly once, atomically, on first use.
enum CurlGlobal {
    static let initResult: CURLcode = tm_curl_global_init()
}

/// A synchronous HTTP client over one reusable libcurl easy handle.
///
/// Guarantees:
/// - Keep-alive: requests to the same host reuse the connection, DNS and TLS session caches.
/// - One request's options never reach the next: the handle is configured once with what never
///   changes, and every request sets each option that can differ between requests (URL, method, body,
///   headers, time limits, proxy, redirects, the guard's socket check), also back to "none".
/// - Every request is bounded by its timeout (request's, else the configuration's), including DNS.
/// - TLS peers and host names are verified unless `Configuration.verifyTLS` is explicitly false.
/// - Redirects are not followed unless `maxRedirects > 0`, and then only for GET and HEAD, so a POST
///   is never silently re-sent elsewhere; a 3xx otherwise comes back as a response.
/// - Any status is a response; only transport failures throw, as `HTTPClientError`, classified into
///   "certainly not sent" and "may have reached the server".
/// - Only `http` and `https` URLs are accepted, also for redirects.
/// - A request with a `ConnectionGuard` connects only to addresses the guard allows, checked on the
///   socket libcurl is about to connect and on a reused connection's peer, and never via a proxy.
///
/// Not thread-safe: use one instance from one thread at a time (a libcurl easy handle must never be
/// used concurrently). `send` blocks; from async code use `AsyncHTTPClient`, which owns its
/// clients on dedicated threads.
public final class HTTPClient {
    /// How a client talks to servers; the defaults are the safe production ones.
    public struct Configuration: Sendable {
        /// Where a proxy comes from.
        public enum Proxy: Sendable, Equatable {
            /// libcurl's usual `http_proxy`/`https_proxy`/`no_proxy` environment variables.
            case environment
            /// Never use a proxy, whatever the environment says.
            case none
            /// This proxy URL.
            case url(String)
        }

        /// Verify the server's certificate chain and host name. Turn off only for local development.
        public var verifyTLS: Bool
        /// A PEM bundle of trusted CAs; nil uses the system's (libcurl's built-in default).
        public var caBundlePath: String?
        public var userAgent: String
        /// Default limit for a whole request.
        public var timeout: Duration
        /// Default limit for DNS + TCP + TLS.
        public var connectTimeout: Duration
        /// Redirects followed for GET/HEAD only; 0 (the default) never follows.
        public var maxRedirects: Int
        /// A longer response body fails with `.outcomeUnknown(kind: .responseTooLarge)`.
        public var maxResponseBytes: Int
        public var proxy: Proxy
        /// Sent before each request's own headers (e.g. `Accept: application/json`).
        public var defaultHeaders: [(name: String, value: String)]

        public init(
            verifyTLS: Bool = true,
            caBundlePath: String? = nil,
            userAgent: String = "tm-http/1.0",
            timeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(10),
            maxRedirects: Int = 0,
            maxResponseBytes: Int = 64 << 20,
            proxy: Proxy = .environment,
            defaultHeaders: [(name: String, value: String)] = []
        ) {
            self.verifyTLS = verifyTLS
            self.caBundlePath = caBundlePath
            self.userAgent = userAgent
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maxRedirects = maxRedirects
            self.maxResponseBytes = maxResponseBytes
            self.proxy = proxy
            self.defaultHeaders = defaultHeaders
        }
    }

    public let configuration: Configuration
    private let easy: CurlEasy
    private var handle: UnsafeMutableRawPointer { easy.handle }
    private var errorBuffer: UnsafeMutablePointer<CChar> { easy.errorBuffer }
    /// Whether the options that never change are set on the handle (libcurl copies every string
    /// option, so setting them again after a `curl_easy_reset` per request cost an allocation each).
    private var configured = false
    /// The proxy options on the handle, set again only when a request needs others.
    private var proxyInEffect: Configuration.Proxy?

    /// Creates the client and its libcurl handle. Fails only if libcurl cannot initialise.
    public init(configuration: Configuration = Configuration()) throws(HTTPClientError) {
        guard let easy = CurlEasy() else {
            throw .notSent(.init(kind: .other, curlCode: Int(CurlGlobal.initResult.rawValue), message: "libcurl initialisation failed",
                                 method: .get, url: ""))
        }
        self.configuration = configuration
        self.easy = easy
    }

    /// Sends the request and waits for the complete response. Blocks the calling thread.
    public func send(_ request: HTTPRequest) throws(HTTPClientError) -> HTTPResponse {
        // Only failures name the URL: redact it then, not on every request.
        var redacted: String { HTTPRequest.redactedURL(request.url) }
        func invalid(_ message: String) -> HTTPClientError {
            .notSent(.init(kind: .invalidRequest, curlCode: nil, message: message, method: request.method, url: redacted))
        }

        // Validate before libcurl sees anything: C strings stop at NUL, and CR/LF in a header would
        // let data smuggle extra headers or requests onto the wire.
        guard HTTPClient.hasHTTPScheme(request.url) else {
            throw invalid("only http and https URLs are supported")
        }
        // Bytes, not Characters: "\r\n" is one Character and would slip past a Character test.
        guard !request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw invalid("URL contains whitespace or control characters")
        }
        let allHeaders = configuration.defaultHeaders + request.headers
        for header in allHeaders {
            guard HTTPClient.isValidHeaderName(header.name) else { throw invalid("invalid header name") }
            guard !header.value.utf8.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A }) else {
                throw invalid("header '\(header.name)' has a control character in its value")
            }
        }

        errorBuffer[0] = 0
        let transfer = Transfer(maxBytes: configuration.maxResponseBytes)
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer {
            // The handle outlives the request: it must not keep the list being freed.
            _ = tm_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, nil)
            curl_slist_free_all(headerList)
        }

        var setupError = CURLE_OK
        func set(_ code: CURLcode) { if setupError == CURLE_OK && code != CURLE_OK { setupError = code } }
        // Through `withCString`: a String passed as `const char *` is copied into a fresh array per
        // call; `withCString` reads a native string in place (a short one from the stack).
        func set(_ option: CURLoption, _ text: String?) {
            guard let text else { return set(tm_curl_setopt_ptr(handle, option, nil)) }  // NULL: libcurl's default
            text.withCString { set(tm_curl_setopt_string(handle, option, $0)) }
        }

        if !configured {
            configureHandle(set)
            // A fixed option refused (an older libcurl without PROTOCOLS_STR) fails this request and
            // is tried again by the next: never a handle left without its protocol limits.
            configured = setupError == CURLE_OK
        }
        set(CURLOPT_URL, request.url)
        set(tm_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, HTTPClient.curlMilliseconds(request.timeout ?? configuration.timeout)))
        set(tm_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS,
                                HTTPClient.curlMilliseconds(request.connectTimeout ?? configuration.connectTimeout)))
        let proxy = request.connectionGuard == nil ? configuration.proxy : .none
        if proxy != proxyInEffect {
            switch proxy {
            case .environment:
                set(CURLOPT_PROXY, nil)
                set(CURLOPT_NOPROXY, nil)
            case .none:
                set(CURLOPT_PROXY, "")  // "" disables env proxies
                set(CURLOPT_NOPROXY, "*")
            case .url(let url):
                set(CURLOPT_PROXY, url)
                set(CURLOPT_NOPROXY, nil)
            }
            // Half set (one of the two refused) is no mode at all: the next request sets both again.
            proxyInEffect = setupError == CURLE_OK ? proxy : nil
        }
        let followsRedirects = configuration.maxRedirects > 0 && (request.method == .get || request.method == .head)
        set(tm_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, followsRedirects ? 1 : 0))
        set(tm_curl_setopt_long(handle, CURLOPT_MAXREDIRS, followsRedirects ? configuration.maxRedirects : 0))

        // Method and body, each of their options set every time: NOBODY off unless HEAD (left on it
        // would drop a later response's body), HTTPGET or POST, CUSTOMREQUEST to a name or back to none.
        let encoded = request.body.encoded
        let sendsBody = encoded != nil || request.method == .post || request.method == .put || request.method == .patch
        var customMethod: String?
        set(tm_curl_setopt_long(handle, CURLOPT_NOBODY, 0))
        if sendsBody {
            // POSTFIELDS mode sends Content-Length (never chunked) and lets CUSTOMREQUEST rename the method.
            let data = encoded?.data ?? Data()
            set(tm_curl_setopt_long(handle, CURLOPT_POST, 1))
            set(tm_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(data.count)))
            // COPYPOSTFIELDS: libcurl keeps its own copy, so no Swift buffer must outlive this call.
            data.withUnsafeBytes { raw in
                let empty: StaticString = ""
                let pointer = raw.baseAddress ?? UnsafeRawPointer(empty.utf8Start)
                set(tm_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: pointer)))
            }
            if request.method != .post { customMethod = request.method.rawValue }
        } else {
            switch request.method {
            case .head: set(tm_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
            case .get: set(tm_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
            default:
                set(tm_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
                customMethod = request.method.rawValue
            }
        }
        set(CURLOPT_CUSTOMREQUEST, customMethod)

        // Headers: an explicit Content-Type wins over the body's; "Expect:" stops libcurl waiting up
        // to a second for `100 Continue` on larger bodies.
        // Each line is written into one reused buffer as a C string, which libcurl copies: no
        // `String` per line and no array of them.
        func has(_ name: String) -> Bool { allHeaders.contains { HTTPHeaderName.same($0.name, name) } }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        func appendLine(_ name: String, _ separator: StaticString, _ value: String) throws(HTTPClientError) {
            line.removeAll(keepingCapacity: true)
            line.append(contentsOf: name.utf8)
            line.append(contentsOf: UnsafeBufferPointer(start: separator.utf8Start, count: separator.utf8CodeUnitCount))
            line.append(contentsOf: value.utf8)
            line.append(0)
            let appended = line.withUnsafeBytes { curl_slist_append(headerList, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            guard let appended else { throw invalid("out of memory building headers") }
            headerList = appended
        }
        if let encoded, !has("Content-Type") { try appendLine("Content-Type", ": ", encoded.contentType) }
        for header in allHeaders {
            // libcurl drops "Name:" (empty value); "Name;" is its spelling for an empty header.
            if header.value.isEmpty { try appendLine(header.name, ";", "") } else { try appendLine(header.name, ": ", header.value) }
        }
        if !has("Expect") { try appendLine("Expect", ":", "") }
        set(tm_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))

        // Callbacks get the transfer through an unretained pointer; withExtendedLifetime below keeps
        // it alive for the whole perform.
        let context = Unmanaged.passUnretained(transfer).toOpaque()
        set(tm_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context))
        set(tm_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context))
        // libcurl silently re-sends a request when a reused connection dies before any response byte
        // arrives — even after the whole request was written, so the server may already have acted on
        // it. For POST/PATCH that could place an order twice; abort the second attempt instead and let
        // the caller decide (the error is `.outcomeUnknown`). The callback also tells us precisely
        // whether sending ever began.
        transfer.allowsRetry = request.method.isIdempotent
        transfer.connectionGuard = request.connectionGuard
        set(tm_curl_setopt_ptr(handle, CURLOPT_PREREQDATA, context))
        if request.connectionGuard != nil {
            // Every socket libcurl connects passes here with its peer address, after libcurl's own look-up.
            set(tm_curl_setopt_opensocket_callback(handle, { userdata, purpose, address in
                let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
                guard purpose == CURLSOCKTYPE_IPCXN, let address else {
                    transfer.refusal = "a socket of another kind than a connection"
                    return -1  // CURL_SOCKET_BAD
                }
                var bytes = [UInt8](repeating: 0, count: 16)
                let count = tm_curl_sockaddr_bytes(address, &bytes)
                let peer = Array(bytes.prefix(Int(count)))
                if transfer.refuses(peer) { return -1 }  // CURL_SOCKET_BAD: no connection at all
                transfer.allowedAtSocket.append(peer)
                return tm_curl_open_socket(address)
            }))
            set(tm_curl_setopt_ptr(handle, CURLOPT_OPENSOCKETDATA, context))
        } else {
            // libcurl's own socket opening: an earlier guarded request's check must not stay on.
            set(tm_curl_setopt_opensocket_callback(handle, nil))
            set(tm_curl_setopt_ptr(handle, CURLOPT_OPENSOCKETDATA, nil))
        }

        // What a refusal left half set is set again by the next request (`configured`, `proxyInEffect`).
        guard setupError == CURLE_OK else {
            throw .notSent(.init(kind: .invalidRequest, curlCode: Int(setupError.rawValue),
                                 message: message(for: setupError), method: request.method, url: redacted))
        }

        let code = withExtendedLifetime(transfer) { curl_easy_perform(handle) }

        guard code == CURLE_OK else {
            let progress = HTTPClientError.Progress(
                requestSize: getLong(CURLINFO_REQUEST_SIZE),
                uploaded: getOffT(CURLINFO_SIZE_UPLOAD_T),
                pretransferMicros: getOffT(CURLINFO_PRETRANSFER_TIME_T),
                startTransferMicros: getOffT(CURLINFO_STARTTRANSFER_TIME_T),
                attempts: transfer.attempts
            )
            if let refusal = transfer.refusal {
                // Refused before writing on any connection: nothing was sent (unless an earlier hop of a redirect was).
                let failure = HTTPClientError.Failure(kind: .addressRefused, curlCode: Int(code.rawValue), message: refusal,
                                                      method: request.method, url: redacted)
                throw transfer.attempts == 0 ? .notSent(failure) : .outcomeUnknown(failure)
            }
            if transfer.refusedRetry {
                throw .outcomeUnknown(.init(kind: .connectionLost, curlCode: Int(code.rawValue),
                                            message: "connection closed before a response; \(request.method.rawValue) not re-sent automatically",
                                            method: request.method, url: redacted))
            }
            if transfer.tooLarge {
                throw .outcomeUnknown(.init(kind: .responseTooLarge, curlCode: Int(code.rawValue),
                                            message: "response body exceeds \(configuration.maxResponseBytes) bytes",
                                            method: request.method, url: redacted))
            }
            throw HTTPClientError.classify(code: code, message: message(for: code), progress: progress,
                                           method: request.method, url: redacted)
        }

        let metrics = HTTPResponse.Metrics(
            total: .microseconds(getOffT(CURLINFO_TOTAL_TIME_T)),
            connect: .microseconds(getOffT(CURLINFO_CONNECT_TIME_T)),
            firstByte: .microseconds(getOffT(CURLINFO_STARTTRANSFER_TIME_T)),
            newConnections: getLong(CURLINFO_NUM_CONNECTS)
        )
        return HTTPResponse(status: getLong(CURLINFO_RESPONSE_CODE), headers: transfer.headers, body: transfer.body,
                            metrics: metrics)
    }

    // MARK: Helpers

    /// Sets the options that are the same for every request of this client, once per handle:
    /// `record` keeps the first failure, which fails the request (and they are set again next time).
    private func configureHandle(_ record: (CURLcode) -> Void) {
        func set(_ code: CURLcode) { record(code) }
        func set(_ option: CURLoption, _ text: String) {
            text.withCString { record(tm_curl_setopt_string(handle, option, $0)) }
        }
        set(tm_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        // Signals are process-wide and unsafe with threads; libcurl then needs the threaded resolver
        // for DNS timeouts, which Debian's libcurl has.
        set(tm_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        set(tm_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0))
        set(tm_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0))
        if let ca = configuration.caBundlePath { set(CURLOPT_CAINFO, ca) }
        set(CURLOPT_USERAGENT, configuration.userAgent)
        set(tm_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1))
        // The callbacks find their transfer through the data pointers each request sets.
        set(tm_curl_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, { buffer, size, count, userdata in
            let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
            let length = size * count
            if let buffer { transfer.headerLine(UnsafeRawBufferPointer(start: buffer, count: length)) }
            return length
        }))
        set(tm_curl_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, { buffer, size, count, userdata in
            let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
            let length = size * count
            guard let buffer, length > 0 else { return length }
            // Returning less than `length` makes libcurl abort with CURLE_WRITE_ERROR.
            return transfer.bodyChunk(UnsafeRawBufferPointer(start: buffer, count: length)) ? length : 0
        }))
        set(tm_curl_setopt_prereq_callback(handle, { userdata, peer, _, _, _ in
            let transfer = Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
            // A connection this transfer did not open at the guarded socket is a kept-alive one an earlier
            // request (perhaps unguarded) opened: check its peer before writing on it.
            if transfer.connectionGuard != nil {
                var bytes = [UInt8](repeating: 0, count: 16)
                let count = peer.map { tm_parse_ip($0, &bytes) } ?? 0
                let address = Array(bytes.prefix(Int(count)))
                if !transfer.allowedAtSocket.contains(address) && transfer.refuses(address, keptAlive: true) { return 1 }  // CURL_PREREQFUNC_ABORT
            }
            transfer.attempts += 1
            if transfer.attempts > 1 && !transfer.allowsRetry {
                transfer.refusedRetry = true
                return 1  // CURL_PREREQFUNC_ABORT
            }
            return 0  // CURL_PREREQFUNC_OK
        }))
    }

    /// Whether the URL starts `http://` or `https://`, in any case (what `lowercased().hasPrefix`
    /// accepts: no non-ASCII letter lowercases to one of these ASCII bytes), without lowercasing a copy.
    static func hasHTTPScheme(_ url: String) -> Bool {
        func starts(_ scheme: StaticString) -> Bool {
            var bytes = url.utf8.makeIterator()
            for index in 0..<scheme.utf8CodeUnitCount {
                guard let byte = bytes.next() else { return false }
                let lowered = (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
                guard lowered == scheme.utf8Start[index] else { return false }
            }
            // A non-ASCII scalar next could combine with the "/" into another Character: decide as before.
            if let next = bytes.next(), next >= 0x80 { return url.lowercased().hasPrefix(String(describing: scheme)) }
            return true
        }
        return starts("http://") || starts("https://")
    }

    /// libcurl treats 0 as "no limit", so a tiny positive duration must stay at least 1 ms.
    static func curlMilliseconds(_ duration: Duration) -> Int {
        Int(clamping: max(1, duration.milliseconds))
    }

    /// RFC 9110 token characters.
    static func isValidHeaderName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }

    private func message(for code: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    private func getLong(_ info: CURLINFO) -> Int {
        var value: Int = 0
        return tm_curl_getinfo_long(handle, info, &value) == CURLE_OK ? value : 0
    }

    private func getOffT(_ info: CURLINFO) -> Int {
        var value: curl_off_t = 0
        return tm_curl_getinfo_off_t(handle, info, &value) == CURLE_OK ? Int(value) : 0
    }
}

/// The state of one transfer, filled by libcurl's callbacks on the calling thread.
private final class Transfer {
    let maxBytes: Int
    var body = Data()
    var headers: [(name: String, value: String)] = []
    var tooLarge = false
    /// Times a connection was ready and the request about to be written (PREREQFUNCTION calls).
    var attempts = 0
    var allowsRetry = true
    var refusedRetry = false
    /// Set for a guarded request; `refusal` says why the guard stopped a connection.
    var connectionGuard: ConnectionGuard?
    var refusal: String?
    /// Peers the guard allowed at the socket in this transfer (their connections need no second look).
    var allowedAtSocket: [[UInt8]] = []

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// Whether the guard refuses the peer `address` (4 or 16 bytes; anything else is refused), noting
    /// why; an allowed address clears an earlier refusal (libcurl tries a host's addresses in turn).
    func refuses(_ address: [UInt8], keptAlive: Bool = false) -> Bool {
        guard let connectionGuard else { return false }
        let reason = address.count == 4 || address.count == 16
            ? connectionGuard.refusal(address) : "an address of an unknown family"
        guard let reason else {
            refusal = nil  // the error then is about the allowed address (e.g. it refused the connection)
            return false
        }
        refusal = "\(keptAlive ? "kept-alive connection" : "connection") to \(ConnectionGuard.text(address)) refused: \(reason)"
        return true
    }

    func headerLine(_ bytes: UnsafeRawBufferPointer) {
        switch HTTPHeaderLine.read(bytes, afterHeader: !headers.isEmpty) {
        case .statusLine:
            // A new status line: interim (1xx) or redirect responses' headers must not leak into the final one.
            headers.removeAll()
            body.removeAll()
        case .continuation(let more):
            // Obsolete line folding: continuation of the previous value.
            headers[headers.count - 1].value += " " + more
        case .field(let name, let value):
            headers.append((name, value))
        case .blank, .ignored:
            break
        }
    }

    func bodyChunk(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maxBytes else {
            tooLarge = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }
}

/// A libcurl easy handle must not be shared between threads; `AsyncHTTPClient` is the Sendable form.
@available(*, unavailable)
extension HTTPClient: Sendable {}

extension HTTPClient {
    /// The libcurl version string, e.g. "libcurl/7.88.1 OpenSSL/3.0.19 zlib/1.2.13 ...".
    public static var libraryVersion: String {
        guard let text = curl_version() else { return "unknown" }
        return String(cString: text)
    }
}
