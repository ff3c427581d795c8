import Foundation
import TMCore

/// One request/response exchange with a child process over its pipes, on the calling thread:
/// writes the input, reads stdout until it is complete, forwards stderr line by line, and enforces
/// the deadline — SIGTERM at the deadline, SIGKILL after the grace period.
///
/// Guarantees: returns within deadline + grace + a few seconds whatever the child does (writes
/// nothing, never closes its pipes, ignores SIGTERM); never blocks on a full pipe in either
/// direction, since every descriptor is non-blocking and multiplexed with `poll`.
struct ProcessExchange {
    enum Completion {
        /// Cold: stdout is complete when the child closes it.
        case endOfStream
        /// Warm: stdout is complete at the first newline.
        case line
    }

    struct Outcome {
        var stdout: [UInt8] = []
        /// The deadline passed: SIGTERM was sent (and SIGKILL after the grace period if needed).
        var timedOut = false
        var killed = false
        /// stdout closed before the output was complete (the child died or closed it).
        var endOfStream = false
    }

    let process: Subprocess
    let deadline: ContinuousClock.Instant
    let grace: Duration
    let onStderrLine: (String) -> Void

    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    func run(input: [UInt8], completion: Completion, stderrCarry: inout [UInt8]) -> Outcome {
        _ = Self.ignoreSIGPIPE  // a child that exits without reading its stdin must not kill us
        var outcome = Outcome()
        var written = 0
        var writing = process.stdinFD >= 0 && !input.isEmpty
        var stdoutOpen = process.stdoutFD >= 0
        var stderrOpen = process.stderrFD >= 0
        for fd in [process.stdinFD, process.stdoutFD, process.stderrFD] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        var killAt: ContinuousClock.Instant?
        var giveUpAt: ContinuousClock.Instant?
        var buffer = [UInt8](repeating: 0, count: 65_536)

        func finishStdin() {
            writing = false
            if completion == .endOfStream { process.closePipe(process.stdinFD) }
        }
        if process.stdinFD >= 0 && input.isEmpty { finishStdin() }

        while stdoutOpen || (completion == .endOfStream && stderrOpen) {
            let now = ContinuousClock.now
            if let giveUpAt, now >= giveUpAt { break }
            if killAt == nil, now >= deadline {
                outcome.timedOut = true
                process.signal(SIGTERM)
                killAt = now + grace
            }
            if let at = killAt, now >= at, giveUpAt == nil {
                outcome.killed = true
                process.signal(SIGKILL)
                giveUpAt = now + .seconds(2)  // pipes held open by a grandchild must not hold us
            }
            var fds: [pollfd] = []
            if writing { fds.append(pollfd(fd: process.stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if stdoutOpen { fds.append(pollfd(fd: process.stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrOpen { fds.append(pollfd(fd: process.stderrFD, events: Int16(POLLIN), revents: 0)) }
            let next = giveUpAt ?? killAt ?? deadline
            let wait = max(0, min(Int((next - now).milliseconds) + 1, 1000))
            if poll(&fds, nfds_t(fds.count), Int32(wait)) < 0 && errno != EINTR { break }
            for entry in fds where entry.revents != 0 {
                if entry.fd == process.stdinFD {
                    let n = input.withUnsafeBytes { write(entry.fd, $0.baseAddress! + written, input.count - written) }
                    if n > 0 { written += n }
                    if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count { finishStdin() }
                } else {
                    let n = read(entry.fd, &buffer, buffer.count)
                    if n > 0 {
                        if entry.fd == process.stdoutFD {
                            outcome.stdout.append(contentsOf: buffer[0..<n])
                            if completion == .line, outcome.stdout.contains(UInt8(ascii: "\n")) { stdoutOpen = false }
                        } else {
                            stderrCarry.append(contentsOf: buffer[0..<n])
                            Self.emitLines(&stderrCarry, onStderrLine)
                        }
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        if entry.fd == process.stdoutFD {
                            stdoutOpen = false
                            outcome.endOfStream = true
                        } else {
                            stderrOpen = false
                        }
                    }
                }
            }
        }
        if completion == .endOfStream, !stderrCarry.isEmpty {
            onStderrLine(String(decoding: stderrCarry, as: UTF8.self))
            stderrCarry.removeAll()
        }
        return outcome
    }

    static func emitLines(_ carry: inout [UInt8], _ emit: (String) -> Void) {
        while let newline = carry.firstIndex(of: UInt8(ascii: "\n")) {
            let line = carry[..<newline]
            if !line.isEmpty { emit(String(decoding: line, as: UTF8.self)) }
            carry.removeSubrange(...newline)
        }
        if carry.count > 65_536 {  // a runaway line: cut it rather than grow without bound
            emit(String(decoding: carry, as: UTF8.self))
            carry.removeAll()
        }
    }
}
