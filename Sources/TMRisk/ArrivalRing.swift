/// A first-in first-out queue in a circular buffer: appending at the back and removing from the
/// front cost a constant — nothing is shifted, and the buffer only doubles when full (so at most
/// a handful of times in a ledger's life). The ledger's time-ordered memories are pruned from the
/// oldest end with it, so no single order pays for a pass over everything remembered.
struct ArrivalRing<Element: Sendable>: Sendable {
    private var storage: ContiguousArray<Element?> = []
    private var head = 0
    private(set) var count = 0

    var first: Element? { count == 0 ? nil : storage[head] }

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) & (storage.count - 1)] = element
        count += 1
    }

    @discardableResult
    mutating func removeFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) & (storage.count - 1)
        count -= 1
        return element
    }

    /// Doubles the buffer (a power of two, so positions wrap with a mask), oldest element first.
    private mutating func grow() {
        var larger = ContiguousArray<Element?>(repeating: nil, count: Swift.max(16, storage.count * 2))
        for offset in 0..<count { larger[offset] = storage[(head + offset) & (storage.count - 1)] }
        storage = larger
        head = 0
    }
}
