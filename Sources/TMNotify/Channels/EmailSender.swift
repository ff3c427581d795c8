import Foundation
import TMCrypto
import TMHTTP

/// E-mail over SMTP (libcurl, `AsyncSMTPClient`): an RFC 5322 message whose `Message-ID` is made
/// from the delivery's idempotency key, so a receiver (or a person) can tell a re-sent in-doubt
/// delivery from a new one. A 5xx reply is permanent; a 4xx reply or a transport error is retried.
public struct EmailSender: ChannelSender {
    let smtp: AsyncSMTPClient
    let from: String
    let clock: @Sendable () -> Date

    public init(smtp: AsyncSMTPClient, from: String, clock: @escaping @Sendable () -> Date = Date.init) {
        self.smtp = smtp
        self.from = from
        self.clock = clock
    }

    public var channel: NotificationChannel { .email }

    public func deliver(_ envelope: DeliveryEnvelope) async throws -> DeliveryReceipt {
        let messageID = "<\(envelope.idempotencyKey)@notifications.tm>"
        let message = EmailMessage.render(from: from, to: envelope.address, subject: envelope.title,
                                          body: envelope.body + (envelope.actionURL.map { "\n\n\($0)" } ?? ""),
                                          messageID: messageID, date: clock(), deliveryKey: envelope.idempotencyKey)
        do {
            try await smtp.send(from: from, to: [envelope.address], message: message)
        } catch {
            throw DeliveryFailure(error.description, retryable: !error.permanent)
        }
        return DeliveryReceipt(providerMessageID: messageID)
    }
}

/// An RFC 5322 message: CRLF line ends, header values without CR/LF (no header injection from a
/// title), non-ASCII subjects as RFC 2047 encoded words, a UTF-8 text body (base64 when a line
/// would pass SMTP's 998-byte limit).
public enum EmailMessage {
    public static func render(from: String, to: String, subject: String, body: String, messageID: String, date: Date,
                              deliveryKey: String) -> Data {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        func clean(_ value: String) -> String {
            String(value.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
        }
        let subjectLine = clean(subject)
        let encodedSubject = subjectLine.unicodeScalars.allSatisfy({ $0.isASCII })
            ? subjectLine : "=?UTF-8?B?\(Base64.encode(Array(subjectLine.utf8)))?="
        let normalized = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        let lines = normalized.split(separator: "\n", omittingEmptySubsequences: false)
        let long = lines.contains { $0.utf8.count > 900 }
        var headers = [
            "From: \(clean(from))", "To: \(clean(to))", "Subject: \(encodedSubject)", "Date: \(formatter.string(from: date))",
            "Message-ID: \(clean(messageID))", "X-TM-Delivery: \(clean(deliveryKey))", "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ]
        let text: String
        if long {
            headers.append("Content-Transfer-Encoding: base64")
            let encoded = Base64.encode(Array(normalized.utf8))
            text = stride(from: 0, to: encoded.count, by: 76).map { start -> String in
                let from = encoded.index(encoded.startIndex, offsetBy: start)
                return String(encoded[from..<(encoded.index(from, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex)])
            }.joined(separator: "\r\n")
        } else {
            headers.append("Content-Transfer-Encoding: 8bit")
            text = lines.joined(separator: "\r\n")
        }
        return Data((headers.joined(separator: "\r\n") + "\r\n\r\n" + text + "\r\n").utf8)
    }
}
