import Foundation

/// The outcome of `awaitUntil`.
enum DeadlineOutcome<T: Sendable>: Sendable {
    case finished(Result<T, any Error>)
    case deadlinePassed
    case cancelled
}

/// Waits for `operation` until `deadline` at most. The operation runs in an unstructured task, so
/// a call blocked in a C library (not cancellable) can be abandoned: it finishes in the background.
/// Cancelling the caller stops the wait at once with `.cancelled`.
func awaitUntil<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ operation: @escaping @Sendable () async throws -> T
) async -> DeadlineOutcome<T> {
    let gate = ResumeOnce<DeadlineOutcome<T>>()
    return await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
            gate.install(continuation)
            let timer = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                gate.resume(.deadlinePassed)
            }
            Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                gate.resume(.finished(result))
                timer.cancel()
            }
        }
    } onCancel: {
        gate.resume(.cancelled)
    }
}

/// Resumes a continuation with the first value offered; later offers are ignored. An offer made
/// before the continuation is installed (an early cancellation) is kept and delivered on install.
private final class ResumeOnce<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Value, Never>?
    private var early: Value?
    private var done = false

    func install(_ continuation: CheckedContinuation<Value, Never>) {
        lock.lock()
        if let early, !done {
            done = true
            lock.unlock()
            continuation.resume(returning: early)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    func resume(_ value: Value) {
        lock.lock()
        guard !done else {
            lock.unlock()
            return
        }
        guard let continuation else {
            if early == nil { early = value }
            lock.unlock()
            return
        }
        done = true
        self.continuation = nil
        lock.unlock()
        continuation.resume(returning: value)
    }
}
