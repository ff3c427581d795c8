import BenchSupport
import Foundation

/// Context switches (voluntary and not) and CPU time of this process's live threads, by kind — a
/// thread's name without its trailing number (`broker-lanes-3` → `broker-lanes`; Swift's pool
/// threads, named by libdispatch, → `swift pool`), from `/proc/self/task/*`: counts per order that
/// the machine's load moves less than CPU time, and which threads they fall on. A difference of two
/// samples is taken thread by thread: a thread that ended between them is left out (its share of
/// the window is lost, nothing is subtracted for it), one that began counts whole.
struct ThreadCounts {
    struct Kind {
        var switches = 0
        var cpuSeconds = 0.0
        var threads = 0
    }

    /// Each live thread's kind and counts, by thread id.
    var threads: [String: (kind: String, counts: Kind)] = [:]

    var kinds: [String: Kind] {
        var kinds: [String: Kind] = [:]
        for thread in threads.values { kinds[thread.kind, default: Kind()].add(thread.counts) }
        return kinds
    }

    static func ofThisProcess() -> ThreadCounts {
        var counts = ThreadCounts()
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
            let directory = "/proc/self/task/\(task)"
            guard let name = try? String(contentsOfFile: directory + "/comm", encoding: .utf8),
                  let status = try? String(contentsOfFile: directory + "/status", encoding: .utf8),
                  let stat = ProcessCPU.statFields(directory + "/stat") else { continue }
            var kind = Kind(cpuSeconds: ProcessCPU.cpuSeconds(stat) ?? 0, threads: 1)
            for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
                kind.switches += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
            }
            counts.threads[task] = (Self.kind(of: name.trimmingCharacters(in: .whitespacesAndNewlines)), kind)
        }
        return counts
    }

    /// `broker-lanes-12` → `broker-lanes`; libdispatch's worker names (`com.apple.root.default-qos`,
    /// cut to its last 15 bytes by the OS) → `swift pool`.
    static func kind(of name: String) -> String {
        if name.contains("-qos") { return "swift pool" }
        var kind = Substring(name)
        while let last = kind.last, last.isNumber { kind = kind.dropLast() }
        if kind.count < name.count, kind.last == "-" { kind = kind.dropLast() }
        return kind.isEmpty ? name : String(kind)
    }

    var switches: Int { kinds.values.reduce(0) { $0 + $1.switches } }

    /// CPU seconds of the threads of these kinds.
    func cpuSeconds(of names: Set<String>) -> Double {
        kinds.filter { names.contains($0.key) }.values.reduce(0) { $0 + $1.cpuSeconds }
    }

    static func - (later: ThreadCounts, earlier: ThreadCounts) -> ThreadCounts {
        var difference = later
        for (id, thread) in later.threads {
            guard let before = earlier.threads[id] else { continue }
            difference.threads[id]?.counts.switches = thread.counts.switches - before.counts.switches
            difference.threads[id]?.counts.cpuSeconds = thread.counts.cpuSeconds - before.counts.cpuSeconds
        }
        return difference
    }

    /// The busiest kinds: context switches and CPU µs per order each, largest CPU first.
    func perOrder(_ orders: Int, top: Int = 8) -> String {
        let scale = 1 / Double(max(orders, 1))
        return kinds.sorted { $0.value.cpuSeconds > $1.value.cpuSeconds }.prefix(top).map { name, kind in
            String(format: "%@ %.2f, %.0f µs", name, Double(kind.switches) * scale, kind.cpuSeconds * scale * 1e6)
        }.joined(separator: "; ")
    }
}

extension ThreadCounts.Kind {
    mutating func add(_ other: ThreadCounts.Kind) {
        switches += other.switches
        cpuSeconds += other.cpuSeconds
        threads += other.threads
    }
}
