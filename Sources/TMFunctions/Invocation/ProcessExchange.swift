import Foundation
import TMCore

/// One request/response exchange with a child process over its pipes, on the calling thread:
/// writes the input, reads stdout until it is complete, forwards stderr line by line, and enforces
/// the deadline — SIGTERM at the deadline, SIGKILL after the grace period.
///
/// Guarantees: returns within deadline + grace + a few seconds whatever the child does (writes
/// nothing, never closes its pipes, ignores SIGTERM); never blocks on a full pipe in either
/// direction, since every descriptor is non-blocking and multiplexed with `poll`. Memory stays
/// bounded whatever the child prints: stdout is kept up to `maxOutput` bytes — past that the
/// exchange stops with `overflowed`, discards the rest and stops the child like a timeout — and a
/// stderr line is cut at 64 KiB (`FunctionLogs` bounds the rest). Reading is linear: each byte read
/// is scanned for newlines once.
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
        /// stdout went past `maxOutput` before it was complete: the child was stopped.
        var overflowed = false
    }

    let process: Subprocess
    let deadline: ContinuousClock.Instant
    let grace: Duration
    /// The most stdout bytes accepted as the result.
    let maxOutput: Int
    let onStderrLine: (ArraySlice<UInt8>) -> Void

    /// A stderr line longer than this is emitted in pieces rather than grown without bound.
    static let longestLine = 65_536
    /// The most bytes one read takes.
    static let readSize = 65_536

    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    func run(input: [UInt8], completion: Completion, stderrCarry: inout [UInt8]) -> Outcome {
        var buffer: [UInt8] = []
        return run(input: input, completion: completion, stderrCarry: &stderrCarry, readBuffer: &buffer)
    }

    /// `readBuffer`: the read buffer, kept by a caller that runs many exchanges (a warm process)
    /// so that each does not allocate and zero 64 KiB again.
    func run(input: [UInt8], completion: Completion, stderrCarry: inout [UInt8], readBuffer buffer: inout [UInt8]) -> Outcome {
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
        if buffer.count < Self.readSize { buffer = [UInt8](repeating: 0, count: Self.readSize) }

        func finishStdin() {
            writing = false
            if completion == .endOfStream { process.closePipe(process.stdinFD) }
        }
        /// SIGTERM now, SIGKILL after the grace period (the loop below sends it).
        func stop(_ now: ContinuousClock.Instant) {
            guard killAt == nil else { return }
            process.signal(SIGTERM)
            killAt = now + grace
        }
        if process.stdinFD >= 0 && input.isEmpty { finishStdin() }

        while stdoutOpen || (completion == .endOfStream && stderrOpen) {
            let now = ContinuousClock.now
            if let giveUpAt, now >= giveUpAt { break }
            if killAt == nil, now >= deadline {
                outcome.timedOut = true
                stop(now)
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
                    continue
                }
                let n = read(entry.fd, &buffer, Self.readSize)
                if n > 0 {
                    let chunk = buffer[0..<n]
                    if entry.fd == process.stderrFD {
                        Self.emitLines(chunk, carry: &stderrCarry, onStderrLine)
                        continue
                    }
                    // An overflowed child's further output is drained and dropped until it exits.
                    if outcome.overflowed { continue }
                    // Only the bytes just read are scanned: the result ends at its first newline (warm).
                    var take = chunk
                    if completion == .line, let newline = chunk.firstIndex(of: UInt8(ascii: "\n")) {
                        take = chunk[..<newline]
                        stdoutOpen = false
                    }
                    if outcome.stdout.count + take.count > maxOutput {
                        outcome.overflowed = true
                        outcome.stdout.removeAll()
                        stdoutOpen = process.stdoutFD >= 0  // keep draining until the child is gone
                        stop(.now)
                        continue
                    }
                    outcome.stdout.append(contentsOf: take)
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
        if completion == .endOfStream, !stderrCarry.isEmpty {
            onStderrLine(stderrCarry[...])
            stderrCarry.removeAll()
        }
        return outcome
    }

    /// Emits the complete lines of `chunk` (the first one completing `carry`), and keeps the
    /// unfinished rest in `carry`. Each byte is scanned once (memchr); `carry` stays under
    /// `longestLine` + one chunk.
    static func emitLines(_ chunk: ArraySlice<UInt8>, carry: inout [UInt8], _ emit: (ArraySlice<UInt8>) -> Void) {
        var start = chunk.startIndex
        chunk.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            while start < chunk.endIndex,
                  let found = memchr(base + (start - chunk.startIndex), Int32(UInt8(ascii: "\n")), chunk.endIndex - start) {
                let newline = chunk.startIndex + base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                if carry.isEmpty {
                    if newline > start { emit(chunk[start..<newline]) }
                } else {
                    carry.append(contentsOf: chunk[start..<newline])
                    emit(carry[...])
                    carry.removeAll(keepingCapacity: true)
                }
                start = newline + 1
            }
        }
        carry.append(contentsOf: chunk[start...])
        if carry.count > longestLine {  // a runaway line: cut it rather than grow without bound
            emit(carry[...])
            carry.removeAll(keepingCapacity: true)
        }
    }
}
