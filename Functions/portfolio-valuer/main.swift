// portfolio-valuer: wires PortfolioValuerFunction (Sources/TMPortfolio) to the invocation protocol.
import TMCore
import TMFunctionRuntime
import TMPortfolio

let valuer = try await PortfolioValuer.open(environment: TMEnvironment.current(), poolSize: 4)
await FunctionMain.run(PortfolioValuerFunction(valuer: valuer))
