import Foundation

/// Context switches of every thread of this process so far (voluntary and not, from
/// `/proc/self/task/*/status`): a count per order that the machine's load moves less than CPU time.
/// Threads that ended between two samples are not counted.
enum ContextSwitches {
    static func ofThisProcess() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        var total = 0
        for task in tasks {
            guard let status = try? String(contentsOfFile: "/proc/self/task/\(task)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
                total += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
            }
        }
        return total
    }
}
