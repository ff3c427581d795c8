import ArgumentParser
import Foundation

/// `tm`: the operator's command line for the job system.
@main
struct TM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tm",
        abstract: "Operate the trading platform's background-job system.",
        discussion: """
            Configuration comes from the environment (TM_REDIS_URL, TM_DATABASE_URL, TM_SECRET_KEY),
            falling back to the .tm/env file that `make up` writes, found from the current directory upwards.
            """,
        version: TMVersion.string,
        subcommands: [
            Migrate.self, Doctor.self, Version.self, Demo.self, Enqueue.self, Queues.self, DeadLetterCommands.self,
            Functions.self, Invoke.self, Dispatch.self, Accounts.self,
            Schedule.self, Schedules.self, Orders.self, OrderWorkerCommand.self, Alerts.self, Notifications.self, Portfolio.self,
            MarketDataCommand.self, Prices.self, Ticks.self, Analytics.self, Trades.self,
        ]
    )
}
