import Foundation

/// A one-way "stopping" flag that sleeping threads can wait on.
///
/// Guarantees: `sleep` returns early (false) as soon as `fire()` is called, so injected latencies
/// and hangs never hold up a shutdown; `fire()` is idempotent.
public final class StopSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var fired = false

    public init() {}

    public var isFired: Bool {
        condition.lock(); defer { condition.unlock() }
        return fired
    }

    public func fire() {
        condition.lock()
        fired = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps for `milliseconds`; true when the whole time passed, false when stopped meanwhile.
    @discardableResult
    public func sleep(milliseconds: Int) -> Bool {
        guard milliseconds > 0 else { return !isFired }
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        condition.lock(); defer { condition.unlock() }
        while !fired {
            if !condition.wait(until: deadline) { return !fired }
        }
        return false
    }
}
