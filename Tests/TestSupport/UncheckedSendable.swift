/// A value a `@Sendable` closure may capture when the test knows it is used from one thread at a
/// time (e.g. a `RedisConnection` a round-trip observer uses on the client's own thread).
public final class UncheckedSendable<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}
