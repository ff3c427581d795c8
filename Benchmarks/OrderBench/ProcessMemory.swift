import BenchSupport
import Foundation

/// This process's fresh pages and resident memory (`/proc/self/stat`, `/proc/self/status`), sampled
/// before and after a run: page faults per order count the pages the kernel zeroed for it, and the
/// resident set's growth per order tells memory the process keeps from memory it reuses.
struct ProcessMemory {
    /// Minor page faults so far (every thread, living or ended: the kernel sums them into the process).
    var minorFaults = 0
    /// Resident set, in KB.
    var residentKB = 0

    static func now() -> ProcessMemory {
        var sample = ProcessMemory()
        if let fields = ProcessCPU.statFields("/proc/self/stat") { sample.minorFaults = Int(fields[7]) ?? 0 }  // minflt
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) {
            // "VmRSS:\t  123456 kB": a tab, then the number padded with spaces (none once it is wide).
            sample.residentKB = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
        }
        return sample
    }

    /// "page faults per order F, resident +K KB per order (M MB now)" from `earlier` to `self`.
    func perOrder(since earlier: ProcessMemory, orders: Int) -> String {
        let count = Double(max(orders, 1))
        return String(format: "bench page faults per order %.2f, resident %+.1f KB per order (%.0f MB at the end)",
                      Double(minorFaults - earlier.minorFaults) / count, Double(residentKB - earlier.residentKB) / count, Double(residentKB) / 1024)
    }
}
