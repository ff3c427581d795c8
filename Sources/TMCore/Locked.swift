import Foundation

/// A value guarded by a lock, for state shared between threads and tasks.
///
/// Guarantees: every read and write goes through `withLock`, so the value is never seen half-updated;
/// keep the closures short and never `await` or block inside them.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    /// Only ever touched under `lock`, which is what keeps accesses exclusive: the runtime's own
    /// exclusivity check (`swift_beginAccess`/`endAccess` on every `withLock`, ~30 an order) is off.
    @exclusivity(unchecked) private var stored: Value

    public init(_ value: Value) { self.stored = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&stored)
    }

    /// A copy of the current value.
    public var current: Value { withLock { $0 } }
}
