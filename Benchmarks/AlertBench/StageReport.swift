import BenchSupport
import Foundation

/// alert-bench `--trace DIR`: where each probe tick's time went, from the `StageTrace` lines the
/// dispatcher (this process) and the warm evaluators wrote to DIR, joined by the probe's message id
/// and its invocation id, with the bench's enqueue time and the row's commit time.
///
/// Stages (Unix ms stamps): enqueued (just before `enqueueBatch`) → read (the dispatcher's batch
/// handler got its read) → cut (the batch collector handed its batch on) → sent (a concurrency slot
/// taken, the request written to an evaluator) → entered (the evaluator's handler has the parsed
/// request) → refreshed (the alert-set version GET, and a reload if it moved) → indexed →
/// transaction (a connection taken, the body entered) → committed (pg_xact_commit_timestamp) →
/// returned (the transaction call returned) → answered (the dispatcher has the answer).
struct StageReport {
    struct Probe {
        var stamps: [Double]
    }

    static let stages = ["enqueued", "read", "cut", "sent", "entered", "refreshed", "indexed", "transaction", "committed", "returned", "answered"]

    let probes: [Probe]
    let missing: Int

    /// `sent`: probe symbol → enqueue ms; `ids`: symbol → message id; `committed`: symbol → commit ms.
    init(directory: String, sent: [String: Double], ids: [String: String], committed: [String: Double]) {
        var dispatcher: [String: (invocation: String, read: Double, cut: Double, sent: Double, answered: Double)] = [:]
        var evaluator: [String: [String: Double]] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for file in files where file.hasSuffix(".jsonl") {
            guard let text = try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let invocation = object["invocation"] as? String else { continue }
                if file.hasPrefix("dispatcher-") {
                    let cut = object["cut"] as? Double ?? 0, sentAt = object["sent"] as? Double ?? 0, answered = object["answered"] as? Double ?? 0
                    for record in object["records"] as? [[Any]] ?? [] {
                        guard let id = record.first as? String, let read = record.last as? Double else { continue }
                        dispatcher[id] = (invocation, read, cut, sentAt, answered)
                    }
                } else {
                    evaluator[invocation] = object.compactMapValues { $0 as? Double }
                }
            }
        }
        var probes: [Probe] = []
        var missing = 0
        for (symbol, enqueued) in sent {
            guard let id = ids[symbol], let d = dispatcher[id], let e = evaluator[d.invocation], let commit = committed[symbol],
                  let entered = e["entered"], let refreshed = e["refreshed"], let indexed = e["indexed"],
                  let transaction = e["transaction"], let returned = e["committed"] else {
                missing += 1
                continue
            }
            probes.append(Probe(stamps: [enqueued, d.read, d.cut, d.sent, entered, refreshed, indexed, transaction, commit, returned, d.answered]))
        }
        self.probes = probes
        self.missing = missing
    }

    /// Per stage p50/p90/p99 of its own duration, and its mean share among the slowest 1% and 5%
    /// of probes (by enqueue → commit): where the tail's milliseconds go.
    var text: String {
        guard !probes.isEmpty else { return "stage trace: no probe joined (\(missing) missing)" }
        let commitIndex = Self.stages.firstIndex(of: "committed")!
        let byTotal = probes.sorted { $0.stamps[commitIndex] - $0.stamps[0] < $1.stamps[commitIndex] - $1.stamps[0] }
        let worst1 = byTotal.suffix(max(1, probes.count / 100)), worst5 = byTotal.suffix(max(1, probes.count / 20))
        var lines = [String(format: "stage trace: %d probes joined, %d missing; ms per stage (each from the stage before)", probes.count, missing)]
        lines.append("stage".padding(toLength: 34, withPad: " ", startingAt: 0) + ["p50", "p90", "p99", "mean, worst 5%", "mean, worst 1%"].map { Self.column($0, 16) }.joined())
        func row(_ name: String, _ value: (Probe) -> Double) {
            var histogram = LatencyHistogram()
            for probe in probes { histogram.record(millis: value(probe)) }
            func mean(_ set: ArraySlice<Probe>) -> Double { set.map(value).reduce(0, +) / Double(set.count) }
            lines.append(name.padding(toLength: 34, withPad: " ", startingAt: 0)
                         + [histogram.millis(atPercentile: 50), histogram.millis(atPercentile: 90), histogram.millis(atPercentile: 99), mean(worst5), mean(worst1)]
                            .map { Self.column(String(format: "%.2f", $0), 16) }.joined())
        }
        for index in 1..<Self.stages.count {
            row("\(Self.stages[index - 1]) → \(Self.stages[index])") { $0.stamps[index] - $0.stamps[index - 1] }
        }
        row("enqueued → committed (the figure)") { $0.stamps[commitIndex] - $0.stamps[0] }
        return lines.joined(separator: "\n")
    }

    static func column(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
}
