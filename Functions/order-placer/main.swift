// order-placer: the order path as a cold function (Sources/TMOrders), for deployments without a
// resident order-worker. Each invocation loads its records' accounts from rows.
import TMFunctionRuntime
import TMOrders

await FunctionMain.run(OrderPlacerFunction(services: try await OrderServices.open(poolSize: 4)))
