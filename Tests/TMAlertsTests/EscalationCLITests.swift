import Foundation
import Testing
import TestSupport
import TMCore

/// `tm alerts ack ID` as an operator runs it: acknowledges once (recorded with who), says when a
/// second ack finds it acknowledged, and refuses unknown ids and notifications without severity.
@Suite(.serialized) struct EscalationCLITests {
    let tm = TestServers.productsDirectory.appendingPathComponent("tm").path

    func ack(_ h: EscalationHarness, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_ENV_FILE"] = "/nonexistent"
        environment["TM_REDIS_URL"] = try TestServers.redisURL
        environment["TM_DATABASE_URL"] = h.database.url
        environment["USER"] = "alice"
        return try await runProcess(tm, ["alerts", "ack"] + arguments, environment: environment)
    }

    @Test func ackAcknowledgesOnceAndRefusesWhatIsNoAlert() async throws {
        let h = try await EscalationHarness()
        let alert = try h.alert(.error), plain = try h.alert(nil)
        let id = alert.uuidString.lowercased()

        let first = try await ack(h, [id])
        #expect(first.status == 0 && first.output.contains("acknowledged alert \(id) at "), "\(first.output)")
        let at = try h.acknowledgedAt(alert)
        let audit = try h.db.query("SELECT actor, entity_id FROM audit_log WHERE action = 'alert.acknowledge'").rows
        #expect(audit.count == 1)
        #expect(try audit.first?.decode("actor", as: String.self) == "operator:alice" && audit.first?.decode("entity_id", as: String.self) == id)

        let second = try await ack(h, [id, "--json"])
        #expect(second.status == 0, "\(second.output)")
        let json = try JSONValue.parse(second.output)
        #expect(json["already_acknowledged"] == .bool(true) && json["alert_id"] == .string(id))
        #expect(json["acknowledged_at"]?.stringValue == ISO8601DateFormatter().string(from: at))
        let third = try await ack(h, [id])
        #expect(third.status == 0 && third.output.contains("was already acknowledged at \(ISO8601DateFormatter().string(from: at))"), "\(third.output)")
        #expect(try h.acknowledgedAt(alert) == at)

        let unknown = try await ack(h, [UUID().uuidString])
        #expect(unknown.status == 1 && unknown.output.contains("id: no notification"), "\(unknown.output)")
        let notAnAlert = try await ack(h, [plain.uuidString])
        #expect(notAnAlert.status == 1 && notAnAlert.output.contains("has no severity"), "\(notAnAlert.output)")
        let garbage = try await ack(h, ["nosuch"])
        #expect(garbage.status == 1 && garbage.output.contains("'nosuch' is not a notification id"), "\(garbage.output)")
        #expect(try h.count("SELECT count(*) AS n FROM audit_log") == 1)
        #expect(try h.count("SELECT count(*) AS n FROM notifications WHERE acknowledged_at IS NOT NULL") == 1)
        await h.cleanUp()
    }
}
