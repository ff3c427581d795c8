import CCurl
import Foundation
import TMCore

/// Sends one e-mail over SMTP with libcurl (the same C library as `HTTPClient`, so one wrapper).
///
/// Guarantees: only `smtp://` and `smtps://` URLs are used (`smtps` is TLS from the first byte;
/// `requireTLS` makes a plain `smtp://` upgrade with STARTTLS or fail); the message bytes are sent
/// as given (libcurl dot-stuffs lines that start with a dot); envelope addresses with CR, LF, `<`
/// or `>` are refused before any I/O; every send is bounded by its timeout; errors carry the SMTP
/// reply code when the server answered, and never the password or the URL's user info.
/// Not thread-safe, like `HTTPClient`: one send at a time per instance (`send` blocks); async code
/// runs it on a `BlockingThread` (see `AsyncSMTPClient`).
public final class SMTPClient {
    /// Where and how to send.
    public struct Configuration: Sendable {
        /// `smtp://host:port` or `smtps://host:port` (an optional path is the EHLO name).
        public var url: String
        public var username: String?
        public var password: String?
        public var requireTLS: Bool
        public var verifyTLS: Bool
        public var timeout: Duration
        public var connectTimeout: Duration

        public init(url: String, username: String? = nil, password: String? = nil, requireTLS: Bool = false, verifyTLS: Bool = true,
                    timeout: Duration = .seconds(30), connectTimeout: Duration = .seconds(10)) {
            self.url = url
            self.username = username
            self.password = password
            self.requireTLS = requireTLS
            self.verifyTLS = verifyTLS
            self.timeout = timeout
            self.connectTimeout = connectTimeout
        }
    }

    /// Why a send failed. `permanent` is a 5xx reply (the server refused the message or a
    /// recipient: sending again will not help); anything else may succeed later.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The last SMTP reply code, when the server answered.
        public var replyCode: Int?
        public var curlCode: Int?
        public var message: String
        public var permanent: Bool { (replyCode ?? 0) >= 500 }
        public var description: String {
            "smtp" + (replyCode.map { " \($0)" } ?? "") + (curlCode.map { " (curl \($0))" } ?? "") + ": \(message)"
        }
    }

    public let configuration: Configuration
    private let easy: CurlEasy
    private var handle: UnsafeMutableRawPointer { easy.handle }
    private var errorBuffer: UnsafeMutablePointer<CChar> { easy.errorBuffer }

    public init(configuration: Configuration) throws(Failure) {
        guard let easy = CurlEasy() else {
            throw Failure(replyCode: nil, curlCode: Int(CurlGlobal.initResult.rawValue), message: "libcurl initialisation failed")
        }
        self.configuration = configuration
        self.easy = easy
    }

    /// Sends `message` (a complete RFC 5322 message, CRLF line ends) from `from` to `recipients`.
    public func send(from: String, to recipients: [String], message: Data) throws(Failure) {
        func invalid(_ reason: String) -> Failure { Failure(replyCode: nil, curlCode: nil, message: reason) }
        let lower = configuration.url.lowercased()
        guard lower.hasPrefix("smtp://") || lower.hasPrefix("smtps://") else { throw invalid("only smtp:// and smtps:// URLs are supported") }
        guard !recipients.isEmpty else { throw invalid("no recipient") }
        for address in [from] + recipients where address.isEmpty || address.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) {
            throw invalid("an envelope address is empty or holds a space, a control character or an angle bracket")
        }

        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let upload = Upload(data: message)
        var rcpt: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(rcpt) }
        for address in recipients {
            guard let appended = curl_slist_append(rcpt, "<\(address)>") else { throw invalid("out of memory") }
            rcpt = appended
        }

        var setupError = CURLE_OK
        func set(_ code: CURLcode) { if setupError == CURLE_OK && code != CURLE_OK { setupError = code } }
        set(tm_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        set(tm_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(tm_curl_setopt_string(handle, CURLOPT_URL, configuration.url))
        set(tm_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "smtp,smtps"))
        set(tm_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, HTTPClient.curlMilliseconds(configuration.timeout)))
        set(tm_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, HTTPClient.curlMilliseconds(configuration.connectTimeout)))
        set(tm_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, configuration.verifyTLS ? 1 : 0))
        set(tm_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, configuration.verifyTLS ? 2 : 0))
        if configuration.requireTLS { set(tm_curl_setopt_long(handle, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))) }
        if let username = configuration.username { set(tm_curl_setopt_string(handle, CURLOPT_USERNAME, username)) }
        if let password = configuration.password { set(tm_curl_setopt_string(handle, CURLOPT_PASSWORD, password)) }
        set(tm_curl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(from)>"))
        set(tm_curl_setopt_slist(handle, CURLOPT_MAIL_RCPT, rcpt))
        set(tm_curl_setopt_long(handle, CURLOPT_UPLOAD, 1))
        set(tm_curl_setopt_off_t(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(message.count)))
        // A read callback has the write callback's C signature (buffer, size, count, userdata), so
        // the shim's typed setter serves both.
        set(tm_curl_setopt_write_callback(handle, CURLOPT_READFUNCTION, { buffer, size, count, userdata in
            let upload = Unmanaged<Upload>.fromOpaque(userdata!).takeUnretainedValue()
            guard let buffer else { return 0 }
            return upload.read(into: buffer, capacity: size * count)
        }))
        set(tm_curl_setopt_ptr(handle, CURLOPT_READDATA, Unmanaged.passUnretained(upload).toOpaque()))
        guard setupError == CURLE_OK else {
            throw Failure(replyCode: nil, curlCode: Int(setupError.rawValue), message: String(cString: curl_easy_strerror(setupError)))
        }

        let code = withExtendedLifetime(upload) { curl_easy_perform(handle) }
        guard code == CURLE_OK else {
            var reply: Int = 0
            _ = tm_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &reply)
            let detail = String(cString: errorBuffer)
            throw Failure(replyCode: reply > 0 ? reply : nil, curlCode: Int(code.rawValue),
                          message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
    }
}

/// The message bytes handed to libcurl's read callback, in pieces.
private final class Upload {
    let data: Data
    var offset = 0
    init(data: Data) { self.data = data }

    func read(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, data.count - offset)
        guard count > 0 else { return 0 }
        data.withUnsafeBytes { raw in
            UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

@available(*, unavailable)
extension SMTPClient: Sendable {}

/// `SMTPClient` for async code: sends run one at a time on a dedicated thread that owns the client,
/// so libcurl's blocking calls never occupy Swift's cooperative pool.
public final class AsyncSMTPClient: Sendable {
    private final class Box: @unchecked Sendable {
        let client: SMTPClient
        init(_ client: SMTPClient) { self.client = client }
    }

    private let thread: BlockingThread
    private let box: Box

    public init(configuration: SMTPClient.Configuration, name: String = "smtp") throws(SMTPClient.Failure) {
        box = Box(try SMTPClient(configuration: configuration))
        thread = BlockingThread(name: name)
    }

    deinit { thread.shutdown() }

    public func send(from: String, to recipients: [String], message: Data) async throws(SMTPClient.Failure) {
        let box = self.box
        let result: Result<Void, SMTPClient.Failure>
        do {
            result = try await thread.run { () -> Result<Void, SMTPClient.Failure> in
                do throws(SMTPClient.Failure) { try box.client.send(from: from, to: recipients, message: message); return .success(()) } catch {
                    return .failure(error)
                }
            }
        } catch {
            throw SMTPClient.Failure(replyCode: nil, curlCode: nil, message: "SMTP client has been shut down")
        }
        try result.get()
    }
}
