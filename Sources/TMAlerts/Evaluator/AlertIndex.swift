import Foundation
import TMCore
import TMMarketData

/// One alert as the evaluator keeps it in memory.
struct IndexedAlert: Sendable {
    let id: UUID
    let userID: UUID
    let symbol: String
    let exchange: String
    let condition: PriceAlertCondition
    let threshold: FixedDecimal
    let repeats: Bool
    /// Seconds; set for repeat alerts.
    let cooldown: TimeInterval?
    /// nil: armed (active). Otherwise a repeat alert that fired: it may fire again from this instant.
    var rearmAt: Date?
    let note: String?
}

/// An instrument: the index's key.
struct Instrument: Hashable, Sendable {
    let symbol: String
    let exchange: String
}

/// An alert a batch hit, with the price it was hit at.
struct AlertHit: Sendable {
    let alert: IndexedAlert
    let price: FixedDecimal
    let previousClose: FixedDecimal?
}

/// What one batch of ticks asks of the database: the alerts to try to fire, and the cross alerts
/// whose stored `last_seen_price` must move (their side of the threshold changed without a firing,
/// or they had none), so a restarted evaluator judges the next cross from the right side.
struct EvaluationPlan: Sendable {
    var hits: [AlertHit] = []
    var lastSeen: [UUID: FixedDecimal] = [:]
    /// The instruments the batch moved, to forget if the plan could not be committed.
    var instruments: [Instrument] = []
    var isEmpty: Bool { hits.isEmpty && lastSeen.isEmpty }
}

/// The active price alerts in memory, per instrument and condition in arrays sorted by threshold,
/// so a tick finds the alerts it hits by binary search whatever their number:
/// ABOVE the prefix of thresholds ≤ price, BELOW the suffix ≥ price, CHANGE_PERCENT the prefix whose
/// percentage the move reaches, and the crosses the range between the previous price and this one.
///
/// Not thread-safe: the evaluator holds it under a lock. No I/O.
struct AlertIndex: Sendable {
    struct Bucket: Sendable {
        var above: [IndexedAlert] = []
        var below: [IndexedAlert] = []
        var change: [IndexedAlert] = []
        var crossUp: [IndexedAlert] = []
        var crossDown: [IndexedAlert] = []
        /// Cross alerts not yet judged against `previous`: the next tick judges each against its own
        /// stored last seen price (or `previous`), then they join the sorted arrays.
        var unseeded: [IndexedAlert] = []
        /// The last price this evaluator evaluated, and when it was observed.
        var previous: FixedDecimal?
        var lastAtMs: Int64?
        var previousClose: FixedDecimal?

        var count: Int { above.count + below.count + change.count + crossUp.count + crossDown.count + unseeded.count }
    }

    private(set) var buckets: [Instrument: Bucket] = [:]
    /// Where each alert is, for removal.
    private var location: [UUID: Instrument] = [:]
    /// Cross alerts' stored `last_seen_price`, as committed.
    private var lastSeen: [UUID: FixedDecimal] = [:]

    var count: Int { location.count }
    var instruments: [Instrument] { Array(buckets.keys) }

    // MARK: Changes

    /// Replaces every alert (a full reload); the instruments' last prices are kept.
    mutating func replaceAll(_ alerts: [(IndexedAlert, lastSeen: FixedDecimal?)]) {
        var fresh: [Instrument: Bucket] = [:]
        for (key, bucket) in buckets {
            fresh[key] = Bucket(previous: bucket.previous, lastAtMs: bucket.lastAtMs, previousClose: bucket.previousClose)
        }
        buckets = fresh
        location = [:]
        lastSeen = [:]
        for (alert, seen) in alerts { append(alert, lastSeen: seen) }
        for key in buckets.keys { buckets[key]!.sortAll() }
    }

    /// Adds or replaces one alert.
    mutating func upsert(_ alert: IndexedAlert, lastSeen seen: FixedDecimal?) {
        remove([alert.id])
        let key = Instrument(symbol: alert.symbol, exchange: alert.exchange)
        location[alert.id] = key
        if let seen { lastSeen[alert.id] = seen }
        var bucket = buckets[key] ?? Bucket()
        bucket.insertSorted(alert)
        buckets[key] = bucket
    }

    private mutating func append(_ alert: IndexedAlert, lastSeen seen: FixedDecimal?) {
        let key = Instrument(symbol: alert.symbol, exchange: alert.exchange)
        location[alert.id] = key
        if let seen { lastSeen[alert.id] = seen }
        buckets[key, default: Bucket()].append(alert)
    }

    mutating func remove(_ ids: some Collection<UUID>) {
        var byInstrument: [Instrument: Set<UUID>] = [:]
        for id in ids {
            guard let key = location.removeValue(forKey: id) else { continue }
            byInstrument[key, default: []].insert(id)
            lastSeen[id] = nil
        }
        for (key, gone) in byInstrument {
            buckets[key]?.removeAll { gone.contains($0.id) }
        }
    }

    func contains(_ id: UUID) -> Bool { location[id] != nil }

    /// A fired alert: gone when it fires once; a repeat alert waits out its cooldown.
    mutating func fired(_ alert: IndexedAlert, at now: Date, price: FixedDecimal) {
        guard let key = location[alert.id] else { return }
        guard alert.repeats, let cooldown = alert.cooldown else { return remove([alert.id]) }
        if alert.condition.isCross { lastSeen[alert.id] = price }
        buckets[key]?.update(alert) { $0.rearmAt = now.addingTimeInterval(cooldown) }
    }

    mutating func committedLastSeen(_ values: [UUID: FixedDecimal]) {
        for (id, price) in values where location[id] != nil { lastSeen[id] = price }
    }

    /// After a batch could not be committed: its instruments' cross alerts are judged again from
    /// their stored last seen prices (the database's truth), so no cross is lost to the failure.
    mutating func forget(_ instruments: [Instrument]) {
        for key in instruments {
            guard var bucket = buckets[key] else { continue }
            bucket.unseeded += bucket.crossUp + bucket.crossDown
            bucket.crossUp = []
            bucket.crossDown = []
            bucket.previous = nil
            bucket.lastAtMs = nil
            buckets[key] = bucket
        }
    }

    // MARK: Evaluation

    /// Evaluates a batch: per instrument the crosses through every tick in order of observation,
    /// the levels (ABOVE, BELOW, CHANGE_PERCENT) at its latest price. Alerts waiting out a cooldown
    /// at `now` are not hit. Moves each instrument's previous price forward.
    mutating func evaluate(_ ticks: [PriceTick], now: Date) -> EvaluationPlan {
        var plan = EvaluationPlan()
        var grouped: [Instrument: [PriceTick]] = [:]
        var order: [Instrument] = []
        for tick in ticks {
            let key = Instrument(symbol: tick.symbol, exchange: tick.exchange)
            guard buckets[key] != nil else { continue }  // no alert on it: nothing to do
            if grouped[key] == nil { order.append(key) }
            grouped[key, default: []].append(tick)
        }
        for key in order {
            var bucket = buckets.removeValue(forKey: key)!
            // Stable: ticks observed at the same instant keep their queue order.
            let sequence = grouped[key]!.enumerated().sorted { ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset) }.map(\.element)
            var hit: [UUID: AlertHit] = [:]
            var hitOrder: [UUID] = []
            func record(_ alert: IndexedAlert, _ price: FixedDecimal, _ close: FixedDecimal?) {
                if let rearm = alert.rearmAt, rearm > now { return }  // cooling down
                guard hit[alert.id] == nil else { return }
                hit[alert.id] = AlertHit(alert: alert, price: price, previousClose: close)
                hitOrder.append(alert.id)
            }
            var last: FixedDecimal?
            for tick in sequence {
                if let seenAt = bucket.lastAtMs, tick.atMs < seenAt { continue }  // older than what was evaluated
                guard let price = FixedDecimal(exactly: tick.price) else { continue }
                if let close = tick.previousClose.flatMap(FixedDecimal.init(exactly:)) { bucket.previousClose = close }
                // Cross alerts new to this evaluator: each from its own last seen price.
                if !bucket.unseeded.isEmpty {
                    for alert in bucket.unseeded {
                        let stored = lastSeen[alert.id]
                        if let from = stored ?? bucket.previous, Self.crosses(alert, from: from, to: price) { record(alert, price, bucket.previousClose) }
                        if stored == nil || Self.side(alert, stored!) != Self.side(alert, price) { plan.lastSeen[alert.id] = price }
                    }
                }
                if let previous = bucket.previous, previous != price {
                    let up = previous < price
                    // cross_up fires for previous < t ≤ price; a fall through t (price < t ≤ previous) changes its side.
                    for alert in bucket.crossUp[Self.upperBound(bucket.crossUp, min(previous, price))..<Self.upperBound(bucket.crossUp, max(previous, price))] {
                        if up { record(alert, price, bucket.previousClose) }
                        plan.lastSeen[alert.id] = price
                    }
                    // cross_down fires for price ≤ t < previous; a rise through t (previous ≤ t < price) changes its side.
                    for alert in bucket.crossDown[Self.lowerBound(bucket.crossDown, min(previous, price))..<Self.lowerBound(bucket.crossDown, max(previous, price))] {
                        if !up { record(alert, price, bucket.previousClose) }
                        plan.lastSeen[alert.id] = price
                    }
                }
                // Judged from their own prices for this tick; from `previous` for the next ones.
                if !bucket.unseeded.isEmpty { bucket.mergeUnseeded() }
                bucket.previous = price
                bucket.lastAtMs = tick.atMs
                last = price
            }
            if let price = last {
                // ABOVE: thresholds ≤ price.
                for alert in bucket.above[..<Self.upperBound(bucket.above, price)] { record(alert, price, bucket.previousClose) }
                // BELOW: thresholds ≥ price.
                for alert in bucket.below[Self.lowerBound(bucket.below, price)...] { record(alert, price, bucket.previousClose) }
                // CHANGE_PERCENT: thresholds t with t × close ≤ |price − close| × 100.
                if let close = bucket.previousClose {
                    let end = Self.partition(bucket.change) { !Self.changeReaches($0, price: price, close: close) }
                    for alert in bucket.change[..<end] { record(alert, price, close) }
                }
                plan.instruments.append(key)
            }
            for id in hitOrder { plan.hits.append(hit[id]!) }
            buckets[key] = bucket
        }
        return plan
    }

    /// Whether moving from `from` to `to` fires a cross alert.
    static func crosses(_ alert: IndexedAlert, from: FixedDecimal, to: FixedDecimal) -> Bool {
        switch alert.condition {
        case .crossUp: return from < alert.threshold && alert.threshold <= to
        case .crossDown: return from > alert.threshold && alert.threshold >= to
        default: return false
        }
    }

    /// The side of its threshold a price is on, as a cross alert sees it (below for cross_up, above for cross_down).
    static func side(_ alert: IndexedAlert, _ price: FixedDecimal) -> Bool {
        alert.condition == .crossUp ? price < alert.threshold : price > alert.threshold
    }

    /// |price − close| × 100 ≥ threshold × close, exactly (units of 10⁻⁹ multiplied in 128 bits;
    /// `Decimal` only when a product would not fit).
    static func changeReaches(_ threshold: FixedDecimal, price: FixedDecimal, close: FixedDecimal) -> Bool {
        let move = (price - close).magnitude
        let (left, o1) = move.units.multipliedReportingOverflow(by: 100 * 1_000_000_000)
        let (right, o2) = threshold.units.multipliedReportingOverflow(by: close.units)
        if !o1 && !o2 { return left >= right }
        return move.decimal * 100 >= threshold.decimal * close.decimal
    }

    /// First index whose threshold is > `value`.
    static func upperBound(_ alerts: [IndexedAlert], _ value: FixedDecimal) -> Int { partition(alerts) { $0 > value } }
    /// First index whose threshold is ≥ `value`.
    static func lowerBound(_ alerts: [IndexedAlert], _ value: FixedDecimal) -> Int { partition(alerts) { $0 >= value } }

    /// The first index whose threshold satisfies `predicate` (false for a prefix, true after it).
    static func partition(_ alerts: [IndexedAlert], _ predicate: (FixedDecimal) -> Bool) -> Int {
        var low = 0, high = alerts.count
        while low < high {
            let middle = (low + high) / 2
            if predicate(alerts[middle].threshold) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

extension AlertIndex.Bucket {
    mutating func append(_ alert: IndexedAlert) {
        switch alert.condition {
        case .above: above.append(alert)
        case .below: below.append(alert)
        case .changePercent: change.append(alert)
        case .crossUp, .crossDown: unseeded.append(alert)
        }
    }

    mutating func insertSorted(_ alert: IndexedAlert) {
        func insert(_ array: inout [IndexedAlert]) { array.insert(alert, at: AlertIndex.upperBound(array, alert.threshold)) }
        switch alert.condition {
        case .above: insert(&above)
        case .below: insert(&below)
        case .changePercent: insert(&change)
        case .crossUp, .crossDown: unseeded.append(alert)
        }
    }

    mutating func sortAll() {
        above.sort { $0.threshold < $1.threshold }
        below.sort { $0.threshold < $1.threshold }
        change.sort { $0.threshold < $1.threshold }
    }

    /// The unseeded cross alerts join the sorted arrays (judged from `previous` from now on).
    mutating func mergeUnseeded() {
        crossUp += unseeded.filter { $0.condition == .crossUp }
        crossDown += unseeded.filter { $0.condition == .crossDown }
        unseeded = []
        crossUp.sort { $0.threshold < $1.threshold }
        crossDown.sort { $0.threshold < $1.threshold }
    }

    mutating func removeAll(where gone: (IndexedAlert) -> Bool) {
        above.removeAll(where: gone)
        below.removeAll(where: gone)
        change.removeAll(where: gone)
        crossUp.removeAll(where: gone)
        crossDown.removeAll(where: gone)
        unseeded.removeAll(where: gone)
    }

    /// Changes one alert in place (found by binary search on its threshold, or among the unseeded).
    mutating func update(_ alert: IndexedAlert, _ body: (inout IndexedAlert) -> Void) {
        func apply(_ array: inout [IndexedAlert]) -> Bool {
            var index = AlertIndex.lowerBound(array, alert.threshold)
            while index < array.count, array[index].threshold == alert.threshold {
                if array[index].id == alert.id { body(&array[index]); return true }
                index += 1
            }
            return false
        }
        switch alert.condition {
        case .above: _ = apply(&above)
        case .below: _ = apply(&below)
        case .changePercent: _ = apply(&self.change)
        case .crossUp, .crossDown:
            if let index = unseeded.firstIndex(where: { $0.id == alert.id }) { return body(&unseeded[index]) }
            if alert.condition == .crossUp { _ = apply(&crossUp) } else { _ = apply(&crossDown) }
        }
    }
}
