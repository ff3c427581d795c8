// analytics-refresh: wires AnalyticsRefreshFunction (Sources/TMAnalytics/Refresh) to the invocation protocol.
import TMAnalytics
import TMCore
import TMFunctionRuntime

let function = try await AnalyticsRefreshFunction.open(environment: TMEnvironment.current())
await FunctionMain.run(function)
