// alert-evaluator: wires the price-alert evaluator and the alert sweeps (Sources/TMAlerts) to the
// invocation protocol. The sweeps of other alert kinds are registered here beside the price one.
import TMAlerts
import TMCore
import TMFunctionRuntime

// TM_FUNCTION_SESSION=own: a scheduling group of its own, not the dispatcher's (an A/B switch; no
// gain measured yet: Benchmarks/AlertBench/PROFILE.md, session 18).
SchedulingSession.leaveDispatcherSessionIfAsked()
let evaluator = try await PriceAlertEvaluator.open(environment: TMEnvironment.current(), poolSize: 4)
let sweeps: [any AlertSweep] = [
    PriceAlertSweep(evaluator: evaluator),
    LimitAlertSweep(pool: evaluator.pool, producer: evaluator.producer),
    EscalationSweep(pool: evaluator.pool, producer: evaluator.producer),
]
// Announcements still in flight after the last answer are sent before the process exits.
await FunctionMain.run(AlertEvaluatorFunction(evaluator: evaluator, sweeps: sweeps), beforeExit: { await evaluator.announced() })
