import ArgumentParser
import Foundation
import TMAlerts
import TMCore
import TMOrders
import TMPostgres

/// `tm alerts ack ID`: acknowledges an alert, which stops its escalation.
struct AlertsAck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack",
        abstract: "Acknowledge an alert (or one of its escalation steps): no further escalation step is sent.")

    @Argument(help: "The alert's notification id (or an escalation step's).") var id: String
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        try await Orders.refusing(nothing: "nothing was acknowledged") {
            guard let uuid = UUID(uuidString: id.trimmingCharacters(in: .whitespaces)) else {
                throw OrderCommandError("id", "'\(id)' is not a notification id (a UUID)")
            }
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let outcome: Escalation.Acknowledgement
            do {
                outcome = try Escalation.acknowledge(id: uuid, actor: "operator:\(Orders.TradingStateOptions.operatorName)", db: db)
            } catch let refusal as EscalationError {
                throw OrderCommandError("id", refusal.description)
            }
            let (alert, at, already): (UUID, Date, Bool)
            switch outcome {
            case .acknowledged(let a, let t): (alert, at, already) = (a, t, false)
            case .alreadyAcknowledged(let a, let t): (alert, at, already) = (a, t, true)
            }
            let time = ISO8601DateFormatter().string(from: at)
            let alertText = alert.uuidString.lowercased()
            if json {
                return print(JSONValue.object([("alert_id", .string(alertText)), ("acknowledged_at", .string(time)),
                                               ("already_acknowledged", .bool(already))]).prettyText)
            }
            print(already ? "alert \(alertText) was already acknowledged at \(time); nothing changed"
                          : "acknowledged alert \(alertText) at \(time): no further escalation step is sent")
        }
    }
}
