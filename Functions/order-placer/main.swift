// order-placer: the order path as a cold function (Sources/TMOrders), for deployments without a
// resident order-worker. Each invocation loads its records' accounts from rows.
import TMCore
import TMFunctionRuntime
import TMOrders

let services = try await OrderServices.open(poolSize: 4)
await FunctionMain.run(OrderPlacerFunction(services: services) { accounts in
    let state = try ResidentState(pool: services.pool, redis: services.redis, environment: services.environment)
    try await state.load(accounts: accounts)
    return (state.risk, state.routes)
})
