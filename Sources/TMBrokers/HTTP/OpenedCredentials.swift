import Foundation

extension BrokerCredentials {
    /// Opens the credentials for the duration of `body` (building one request), mapping a failure
    /// to open them to `unauthorized` without the underlying error's text.
    ///
    /// Why: an unsealing failure (a rotated-away key, a corrupt row) needs an operator or the user,
    /// not retries; its description could one day include material we must not log.
    func opened<T>(for broker: BrokerKind, _ body: (Opened) throws(BrokerError) -> T) throws(BrokerError) -> T {
        do {
            return try withOpened { opened in try body(opened) }
        } catch let error as BrokerError {
            throw error
        } catch {
            throw .unauthorized(reason: "the \(broker.rawValue) credentials could not be opened (\(type(of: error)))")
        }
    }
}

extension BrokerCredentials.Opened {
    /// The access token, or `unauthorized` naming what is missing (never a value).
    func requireAccessToken(_ broker: BrokerKind) throws(BrokerError) -> String {
        guard let token = accessToken, !token.isEmpty else {
            throw .unauthorized(reason: "\(broker.rawValue) needs an access token; the account has none")
        }
        return token
    }

    func requireSecret(_ broker: BrokerKind) throws(BrokerError) -> String {
        guard let secret = apiSecret, !secret.isEmpty else {
            throw .unauthorized(reason: "\(broker.rawValue) needs an API secret; the account has none")
        }
        return secret
    }
}
