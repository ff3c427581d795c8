import Foundation
import Testing
import TestSupport
import TMCore
import TMCrypto
import TMNotify

/// Failures: retried with the queue, dead-lettered with the reason, a failing channel cut off and
/// reported; and no credential anywhere the notifier writes.
@Suite(.serialized) struct NotifierFailureTests {
    @Test func aTransientFailureIsRetriedAndAPermanentOneIsDeadAtOnce() async throws {
        let h = try NotifierHarness()
        try h.addChannel(.email, "trader@example.com")
        let notifier = try h.notifier()
        // 451: try later.
        try h.smtp.failNext(1, code: 451)
        let id = try h.notify(channels: [.email])
        let first = try await h.deliver(notifier, id)
        #expect(first?.reasons.first?.contains("email: smtp 451") == true, "\(String(describing: first))")
        #expect(try h.deliveries(id).map(\.status) == ["failed"])
        #expect(try await h.deliver(notifier, id) == nil)
        #expect(try h.deliveries(id).map { "\($0.status) \($0.attempts)" } == ["sent 2"])
        #expect(try h.smtp.messages.count == 1 && h.status(id) == "sent")
        // 550: refused for good — dead on the first try, the notification failed with the reason.
        try h.smtp.failNext(1, code: 550)
        let refused = try h.notify(channels: [.email])
        #expect(try await h.deliver(notifier, refused) == nil)
        let dead = try #require(try h.deliveries(refused).first)
        #expect(dead.status == "dead" && dead.attempts == 1 && dead.lastError?.contains("email: smtp 550") == true, "\(dead)")
        #expect(try h.status(refused) == "failed")
    }

    @Test func aChannelThatKeepsFailingIsDeadLetteredMarkedFailingReportedAndSkipped() async throws {
        let h = try NotifierHarness()
        h.settings.maxAttempts = 2
        h.settings.failingAfter = 3
        let hook = try h.addChannel(.webhook, h.webhook.baseURL + "/hooks/trader?token=hookTOKEN123", secret: NotifierHarness.webhookSecret)
        h.webhook.failNext(-1, status: 500, body: "receiver exploded")
        let notifier = try h.notifier()

        // Out of attempts: dead with the channel, the status and the receiver's words.
        let first = try h.notify(channels: [.inApp, .webhook])
        #expect(try await h.deliver(notifier, first) != nil)
        #expect(try await h.deliver(notifier, first) == nil)
        let dead = try #require(try h.deliveries(first).first { $0.channel == "webhook" })
        #expect(dead.status == "dead" && dead.attempts == 2)
        #expect(dead.lastError == "webhook: HTTP 500: receiver exploded (gave up after 2 attempts)")
        #expect(try h.status(first) == "failed")

        // The third failure in a row marks the channel failing: this delivery is dead at once.
        let second = try h.notify(channels: [.inApp, .webhook])
        #expect(try await h.deliver(notifier, second) == nil)
        #expect(try h.deliveries(second).first { $0.channel == "webhook" }?.status == "dead")
        let channel = try #require(try NotificationChannels.list(h.db, userID: h.user).first)
        #expect(channel.state == "failing" && channel.consecutiveFailures == 3 && channel.disabledReason?.contains("HTTP 500") == true)
        // Reported to the user in-app.
        let report = try h.db.query("""
            SELECT title, body, array_to_string(channels, ',') AS channels FROM notifications
            WHERE user_id = \(h.user) AND kind = 'notification_channel_failing'
            """).rows
        #expect(report.count == 1)
        #expect(try report.first?.decode("channels", as: String.self) == "in_app")
        #expect(try report.first?.decode("body", as: String.self).contains(hook.uuidString.lowercased()) == true)

        // Not retried forever: the next notification does not go to it.
        let requests = h.webhook.requests.count
        let third = try h.notify(channels: [.inApp, .webhook])
        try await notifier.deliver(third)
        #expect(try h.deliveries(third).map(\.channel) == ["in_app"])
        #expect(h.webhook.requests.count == requests)

        // Re-enabled (the user fixed it): used again.
        h.webhook.failNext(0)
        try NotificationChannels.enable(h.db, id: hook)
        let fourth = try h.notify(channels: [.webhook])
        try await notifier.deliver(fourth)
        #expect(try h.status(fourth) == "sent" && h.webhook.accepted.count == 1)
    }

    @Test func aChannelWithoutItsProviderIsDeadLetteredNamingTheSettingAndNotHeldAgainstTheUser() async throws {
        let h = try NotifierHarness()
        h.settings.smtp = nil
        h.settings.failingAfter = 1
        try h.addChannel(.email, "trader@example.com")
        let id = try h.notify(channels: [.inApp, .email])
        #expect(try await h.deliver(try h.notifier(), id) == nil)
        let email = try #require(try h.deliveries(id).first { $0.channel == "email" })
        #expect(email.status == "dead" && email.lastError == "email: email is not configured (set TM_SMTP_URL)", "\(email)")
        let channel = try #require(try NotificationChannels.list(h.db, userID: h.user).first)
        #expect(channel.state == "ok" && channel.consecutiveFailures == 0, "the user's address did not fail: the deployment lacks a provider")
    }

    @Test func noCredentialReachesARowALogLineOrADeadLetter() async throws {
        let h = try NotifierHarness()
        try h.addEveryChannel()
        // Providers that echo what they were given in their error texts.
        h.twilio.failNext(-1, status: 400, body: "{\"message\":\"bad token \(NotifierHarness.twilioToken) for \(NotifierHarness.twilioSID)\"}")
        h.fcm.failNext(-1, status: 400, body: "bearer \(NotifierHarness.fcmToken) rejected")
        h.slack.failNext(-1, status: 404, body: "no_service at \(NotifierHarness.slackPath)")
        h.webhook.failNext(-1, status: 500, body: "secret \(NotifierHarness.webhookSecret) mismatch for token=hookTOKEN123")
        let id = try h.notify(channels: [.inApp, .email, .webhook, .slack, .sms, .push])

        // The real notifier executable, cold, given its secrets as the dispatcher would.
        let config = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("notify-config"))
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: config) }
        try "roles: {manager: {slack_webhook: '\(h.slack.baseURL + NotifierHarness.managerSlackPath)'}}\n"
            .write(to: config.appendingPathComponent("escalation.yaml"), atomically: true, encoding: .utf8)
        let environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "TM_ENV_FILE": "/dev/null",
            "TM_DATABASE_URL": h.database.url, "TM_REDIS_URL": try TestServers.redisURL,
            "TM_QUEUES_DIR": TestServers.repositoryRoot.appendingPathComponent("Queues").path, "TM_CONFIG_DIR": config.path,
            "TM_SECRET_KEY": h.keyring.current.exportBase64(), "TM_LOG_LEVEL": "debug", "TM_NOTIFY_MAX_ATTEMPTS": "1",
            "TM_SMTP_URL": h.smtp.url, "TM_SMTP_FROM": "alerts@tm.example", "TM_SMTP_USERNAME": NotifierHarness.smtpUser,
            "TM_SMTP_PASSWORD": NotifierHarness.smtpPassword, "TM_TWILIO_BASE_URL": h.twilio.baseURL, "TM_TWILIO_FROM": "+15550009999",
            "TM_TWILIO_ACCOUNT_SID": NotifierHarness.twilioSID, "TM_TWILIO_AUTH_TOKEN": NotifierHarness.twilioToken,
            "TM_FCM_BASE_URL": h.fcm.baseURL, "TM_FCM_PROJECT": "tm-test", "TM_FCM_ACCESS_TOKEN": NotifierHarness.fcmToken,
            "TM_FUNCTION": "notifier", "TM_NOTIFY_ALLOW_PRIVATE_TARGETS": "1",
        ]
        let body = "{\\\"notification_id\\\":\\\"\(id.uuidString.lowercased())\\\"}"
        let request = """
            {"invocation_id":"inv-1","function":"notifier","attempt":1,"deadline_ms":\(Int64(Date().timeIntervalSince1970 * 1000) + 60_000),\
            "records":[{"message_id":"m-1","key":"notification:\(id.uuidString.lowercased())","queue":"notifications","attempt":1,"epoch":1,\
            "enqueued_at_ms":0,"body":"\(body)"}]}
            """
        let output = try await runWithInput(TestServers.productsDirectory.appendingPathComponent("notifier").path, input: request, environment: environment)
        #expect(output.contains("\"status\":\"ok\""), "\(output)")

        // E-mail went out (with AUTH); the rest failed for good, each with its reason.
        #expect(h.smtp.messages.count == 1)
        let deliveries = try h.deliveries(id)
        #expect(deliveries.filter { $0.status == "sent" }.map(\.channel) == ["email", "in_app"])
        let reasons = deliveries.compactMap(\.lastError).joined(separator: "\n")
        #expect(reasons.contains("sms: HTTP 400") && reasons.contains("push: HTTP 400") && reasons.contains("slack: HTTP 404")
                && reasons.contains("webhook: HTTP 500"), "\(reasons)")
        // Nowhere: not in the rows, not in the function's output and logs.
        let stored = try h.storedText()
        for secret in NotifierHarness.secrets {
            #expect(!stored.contains(secret), "stored text holds \(secret)")
            #expect(!output.contains(secret), "the function's output holds \(secret)")
        }
        // The view an operator gets is redacted too.
        let shown = try #require(try NotificationViews.show(h.db, id: id)).json.text
        for secret in NotifierHarness.secrets { #expect(!shown.contains(secret), "show holds \(secret)") }
    }
}

/// Runs a command with `input` on stdin; returns stdout and stderr together.
func runWithInput(_ executable: String, input: String, environment: [String: String]) async throws -> String {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            continuation.resume(with: Result {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.environment = environment
                let stdin = Pipe(), stdout = Pipe()
                process.standardInput = stdin
                process.standardOutput = stdout
                process.standardError = stdout
                try process.run()
                stdin.fileHandleForWriting.write(Data(input.utf8))
                try stdin.fileHandleForWriting.close()
                let data = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return String(decoding: data, as: UTF8.self)
            })
        }.start()
    }
}
