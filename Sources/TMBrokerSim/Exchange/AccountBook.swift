import Foundation

/// The exchange's accounts by broker and API key, knowing which of them have working limit orders.
///
/// Guarantees: `withResting` is exactly the keys whose account has a working limit order (it is
/// brought up to date after every write through the subscript, the only way to change an account),
/// so matching visits those accounts alone, however many accounts and filled orders there are.
struct AccountBook {
    private(set) var all: [Exchange.AccountKey: SimAccount] = [:]
    private(set) var withResting: Set<Exchange.AccountKey> = []

    subscript(key: Exchange.AccountKey) -> SimAccount? {
        get { all[key] }
        set {
            all[key] = newValue
            noteResting(key)
        }
        // In place, so changing one order never copies the account's book.
        _modify {
            defer { noteResting(key) }
            yield &all[key]
        }
    }

    var count: Int { all.count }

    private mutating func noteResting(_ key: Exchange.AccountKey) {
        if all[key]?.resting.isEmpty == false { withResting.insert(key) } else if !withResting.isEmpty { withResting.remove(key) }
    }
}
