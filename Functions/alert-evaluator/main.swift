// alert-evaluator: wires the price-alert evaluator and the alert sweeps (Sources/TMAlerts) to the
// invocation protocol. The sweeps of other alert kinds are registered here beside the price one.
import TMAlerts
import TMCore
import TMFunctionRuntime

// A scheduling group of its own (not the dispatcher's): its firing transactions' wake-ups stop
// queueing behind the dispatcher's threads (Benchmarks/AlertBench/PROFILE.md, session 18).
SchedulingSession.leaveDispatcherSession()
let evaluator = try await PriceAlertEvaluator.open(environment: TMEnvironment.current(), poolSize: 4)
let sweeps: [any AlertSweep] = [
    PriceAlertSweep(evaluator: evaluator),
    LimitAlertSweep(pool: evaluator.pool, producer: evaluator.producer),
    EscalationSweep(pool: evaluator.pool, producer: evaluator.producer),
]
// Announcements still in flight after the last answer are sent before the process exits.
await FunctionMain.run(AlertEvaluatorFunction(evaluator: evaluator, sweeps: sweeps), beforeExit: { await evaluator.announced() })
