// notifier: wires the Notifier (Sources/TMNotify) to the invocation protocol.
import TMCore
import TMFunctionRuntime
import TMNotify

let services = try await NotifierServices.open(environment: TMEnvironment.current())
await FunctionMain.run(NotifierFunction(services: services))
