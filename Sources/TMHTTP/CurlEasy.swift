import CCurl

/// One libcurl easy handle with its error buffer, made after libcurl's global setup and freed
/// together: what `HTTPClient` and `SMTPClient` each own (one per client, never shared by threads).
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    /// libcurl writes its detailed message here (CURL_ERROR_SIZE bytes); kept for the handle's life.
    let errorBuffer: UnsafeMutablePointer<CChar>

    /// nil when libcurl cannot initialise (`CurlGlobal.initResult` says why, when it was the global setup).
    init?() {
        guard CurlGlobal.initResult == CURLE_OK, let handle = curl_easy_init() else { return nil }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }
}
