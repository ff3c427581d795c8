import ArgumentParser

/// `tm alerts`: a minimal group for `ack` on this branch; the real group (`add|list|cancel`) lives
/// in Alerts.swift on the price alerts' branch, which takes `AlertsAck` into its subcommands.
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Alerts: acknowledge one to stop its escalation.", subcommands: [AlertsAck.self])
}
