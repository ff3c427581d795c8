import ArgumentParser

/// `tm trades`: fills a user records himself (owned by the trades import).
struct Trades: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trades", abstract: "Import fills from a CSV file into an account.", subcommands: [])
}
