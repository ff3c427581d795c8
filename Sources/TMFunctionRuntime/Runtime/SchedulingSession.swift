import Foundation

/// Lets a function process leave the session of the dispatcher that started it, for the CPU
/// scheduler's sake.
///
/// Why: Linux with autogroup scheduling (`kernel.sched_autogroup_enabled = 1`, the default of most
/// distributions' kernels and of this project's bench machine) shares the CPU fairly between
/// *sessions*, not threads: every process of one session is one group. A warm function started by
/// the dispatcher sits in the dispatcher's session, so its few short bursts (a firing transaction's
/// round trips, each a wake-up) queue behind the dispatcher's busy threads in the same group, while
/// every Postgres backend and Redis is a session, i.e. a group, of its own. In a session of its own
/// the function is scheduled as a peer of those. (Where processes live in cgroups of their own, as
/// under systemd, autogroup does not apply and this changes nothing.)
///
/// Opt-in (`TM_FUNCTION_SESSION=own`): on the loaded bench machine of session 18 it showed no
/// gain that survived alternation (Benchmarks/AlertBench/PROFILE.md); it stays a switch so a quiet
/// machine can A/B it with one binary.
///
/// Guarantees: it only calls `setsid()`; the process keeps its parent, its pipes and its lifetime
/// (a warm function still ends when the dispatcher closes its stdin, and the dispatcher signals it
/// by pid). What it gives up: a signal sent to the dispatcher's process group (a terminal's Ctrl-C)
/// no longer reaches the function directly; the dispatcher's shutdown does.
public enum SchedulingSession {
    /// The variable that puts the function in a session of its own when set to `own` (anything
    /// else, or unset: the dispatcher's session, as before).
    public static let variable = "TM_FUNCTION_SESSION"

    /// Starts a session of its own when `TM_FUNCTION_SESSION=own`; whether it did.
    @discardableResult
    public static func leaveDispatcherSessionIfAsked(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard environment[variable] == "own" else { return false }
        // Fails only for a process group leader, which a spawned function is not; then nothing changes.
        return setsid() != -1
    }
}
