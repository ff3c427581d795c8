import Foundation
import TMCore

/// A lone order's wall time, from `OrderPlacer.handle`'s call to its return, split by where it went,
/// from the `HopStamps` of one order at a time: the task's own run (Swift: parse, risk, JSON, row
/// encoding, the continuation's scheduling) on a pool thread, or with `ResumingThreadExecutor` on the
/// thread that answered its last hop, each hop to a C-handle thread (a wake-up) and back (a pool
/// thread's wake-up; with the executor, the answering thread going on with the task), and the jobs there (Postgres round trips, the broker call's admission
/// in Redis, its HTTP request), and with the worker's group commit the hops to its drain task and back.
/// The parts partition every order's time, so their means add up to the mean wall time exactly.
struct LoneOrderSplit {
    private(set) var orders = 0
    private(set) var totalNanos: UInt64 = 0
    private var parts: [String: (nanos: UInt64, count: Int)] = [:]
    private var order: [String] = []

    static let task = "task (Swift)"
    static let hopThere = "hop task → thread (wake)"
    static let hopBack = "hop thread → task"

    mutating func add(start: UInt64, end: UInt64, stamps: [HopStamps.Stamp]) {
        orders += 1
        totalNanos += end &- start
        var last = start
        var admitted: Set<String> = []
        var queued = false
        func part(_ name: String, until nanos: UInt64) {
            if parts[name] == nil { order.append(name) }
            parts[name, default: (0, 0)].nanos += nanos &- min(last, nanos)
            parts[name, default: (0, 0)].count += 1
            last = max(last, nanos)
        }
        for stamp in stamps where stamp.nanos >= start && stamp.nanos <= end {
            switch stamp.event {
            case .submit:
                // After a group commit's queueing, the time to the submit is its drain task's start.
                part(queued ? "group commit: writer → its drain task (wake)" : Self.task, until: stamp.nanos)
                queued = false
            case .start: part(Self.hopThere, until: stamp.nanos)
            case .mark("group commit: queued"):
                part(Self.task, until: stamp.nanos)
                queued = true
            case .mark("group commit: written"): part("group commit: its drain task → the writer (wake)", until: stamp.nanos)
            case .mark(let name):
                admitted.insert(stamp.thread)
                part("job: broker call's admission (Redis EVALSHA on the lane, until \(name))", until: stamp.nanos)
            case .end:
                if admitted.remove(stamp.thread) != nil {
                    part("job: broker HTTP request (libcurl + broker-sim)", until: stamp.nanos)
                } else {
                    part("job: \(Self.kind(of: stamp.thread))", until: stamp.nanos)
                }
            case .resumed: part(Self.hopBack, until: stamp.nanos)
            }
        }
        part(Self.task, until: end)
    }

    /// One order's stamps, one line each: µs since the call, µs since the previous stamp, what.
    static func timeline(start: UInt64, end: UInt64, stamps: [HopStamps.Stamp]) -> String {
        var lines = ["  one lone order's timeline (µs since handle(), +µs since the previous stamp):"]
        var last = start
        for stamp in stamps + [HopStamps.Stamp(event: .mark("handle() returns"), thread: "task", nanos: end)] {
            let what: String
            switch stamp.event {
            case .submit: what = "task submits a job to \(stamp.thread)"
            case .start: what = "\(stamp.thread) starts it"
            case .end: what = "\(stamp.thread) ends it, resumes the task"
            case .resumed: what = "task runs again (after \(stamp.thread))"
            case .mark(let name): what = "\(stamp.thread): \(name)"
            }
            lines.append(String(format: "    %7.1f  +%6.1f  %@", Double(stamp.nanos &- start) / 1000, Double(stamp.nanos &- last) / 1000, what))
            last = stamp.nanos
        }
        return lines.joined(separator: "\n")
    }

    static func kind(of thread: String) -> String {
        if thread.hasPrefix("tm-postgres") { return "Postgres (libpq round trips + row work)" }
        if thread.hasPrefix("broker-lanes") { return "broker lane (refused admission)" }
        return "thread '\(thread)'"
    }

    /// "mean wall µs = part µs (calls per order) + …", the parts in the order first seen.
    var note: String {
        let n = Double(max(1, orders))
        let listed = order.map { name -> String in
            let (nanos, count) = parts[name]!
            // The task's segments are counted per segment: one more than the hops.
            return String(format: "%@ %.0f (%.1f×)", name, Double(nanos) / 1000 / n, Double(count) / n)
        }
        return String(format: "lone order, mean %.0f µs = ", Double(totalNanos) / 1000 / n) + listed.joined(separator: " + ")
    }

    /// Mean µs per order of one part (0 when never seen).
    func micros(_ name: String) -> Double { Double(parts[name]?.nanos ?? 0) / 1000 / Double(max(1, orders)) }
}
