// sync-trigger: wires the SyncTrigger logic (Sources/TMSync) to the invocation protocol.
import TMBrokers
import TMCore
import TMFunctionRuntime
import TMSync

let environment = TMEnvironment.current()
let endpoints = try BrokerEndpoints.fromEnvironment(environment)
// One HTTP client (kept-alive connections, several lanes) serves every broker for the process's life.
let http = try BrokerAdapters.makeHTTPClient(timeouts: try BrokerTimeouts.fromEnvironment(environment), lanes: 8)
let services = try await SyncServices.open(environment: environment, poolSize: 2, secretKey: false) { BrokerAdapters.make($0, endpoints: endpoints, http: http) }
await FunctionMain.run(SyncTriggerFunction(services: services))
