import ArgumentParser
import Foundation
import TMAlerts
import TMCore
import TMPostgres

/// `tm alerts ack ID`: acknowledges an alert, which stops its escalation.
struct AlertsAck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack",
        abstract: "Acknowledge an alert (or one of its escalation steps): no further escalation step is sent.")

    @Argument(help: "The alert's notification id (or an escalation step's).") var id: String
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        do {
            guard let uuid = UUID(uuidString: id.trimmingCharacters(in: .whitespaces)) else {
                throw EscalationError("'\(id)' is not a notification id (a UUID)")
            }
            let db = try PostgresConnection.connect()
            defer { db.close() }
            let outcome = try Escalation.acknowledge(id: uuid, actor: "operator:\(Self.operatorName)", db: db)
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
            if already {
                print("alert \(alertText) was already acknowledged at \(time); nothing changed")
            } else {
                print("acknowledged alert \(alertText) at \(time): no further escalation step is sent")
            }
        } catch let refusal as EscalationError {
            FileHandle.standardError.write(Data("refused: \(refusal)\nnothing was acknowledged\n".utf8))
            throw ExitCode(1)
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    static var operatorName: String {
        let user = ProcessInfo.processInfo.environment["USER"]?.trimmingCharacters(in: .whitespaces) ?? ""
        return user.isEmpty ? "unknown" : user
    }
}
