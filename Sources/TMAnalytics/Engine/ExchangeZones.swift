import Foundation

/// Which IANA zone an exchange trades in: the zone that dates a fill (its trading day, hour and
/// weekday) for categories, periods, daily returns and the hour/weekday/month breakdowns.
///
/// Indian venues (NSE, BSE, NFO, BFO, MCX, CDS, BCD, NCDEX) → Asia/Kolkata; US venues (NYSE,
/// NASDAQ, ARCA, AMEX, BATS, CBOE, IEX, OTC …) → America/New_York; crypto venues (Binance …) and
/// any exchange not listed → UTC. Case-insensitive.
public enum ExchangeZones {
    public static func zoneIdentifier(forExchange exchange: String) -> String {
        switch exchange.uppercased() {
        case "NSE", "BSE", "NFO", "BFO", "MCX", "CDS", "BCD", "NCDEX", "NSE_FO", "BSE_FO", "NSE_EQ", "BSE_EQ", "NCO", "NSEIX":
            return "Asia/Kolkata"
        case "NYSE", "NASDAQ", "ARCA", "NYSEARCA", "AMEX", "NYSEAMERICAN", "NYSEMKT", "BATS", "BZX", "CBOE", "IEX", "OTC", "PINK",
             "EDGX", "EDGA", "BYX", "MEMX", "US":
            return "America/New_York"
        default:
            return "UTC"
        }
    }
}

extension ExchangeZones {
    /// The date of the instant (µs since 1970, UTC) in the exchange's zone: the day the engine
    /// files it under.
    public static func localDay(micros: Int64, exchange: String) -> AnalyticsDay {
        var cursor = ZoneCursor(ZoneOffsets.named(zoneIdentifier(forExchange: exchange)))
        let seconds = micros >= 0 ? micros / 1_000_000 : (micros - 999_999) / 1_000_000
        let local = cursor.local(seconds)
        return AnalyticsDay(daysSinceEpoch: Int(local >= 0 ? local / 86_400 : (local - 86_399) / 86_400))
    }

    /// A user's main exchange, whose zone dates "today" (the evaluation day): the one with the
    /// most fills, ties to the alphabetically first; nil without fills.
    public static func mainExchange(fillsPerExchange: [String: Int]) -> String? {
        fillsPerExchange.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
    }

    /// The first UTC midnight by which day `day` has ended in every exchange's zone (the zones are
    /// less than a day behind UTC): a day's fills, and all before them, were traded before it.
    static func firstUTCDayAfterEveryZone(_ day: AnalyticsDay) -> AnalyticsDay {
        AnalyticsDay(daysSinceEpoch: day.daysSinceEpoch + 2)
    }
}

/// One zone's UTC offsets from 1970 to 2100, read once from the system's tz database: the instants
/// at which the offset changes and the offset after each. Looking an instant up is a binary search;
/// `ZoneCursor` makes the common case (time-ordered fills) a range check.
struct ZoneOffsets: Sendable {
    let identifier: String
    /// UTC seconds at which the offset changes, ascending.
    let transitions: [Int64]
    /// `offsets[0]` before the first transition, `offsets[i]` from `transitions[i − 1]`.
    let offsets: [Int64]

    init(identifier: String) {
        self.identifier = identifier
        let zone = TimeZone(identifier: identifier) ?? TimeZone(identifier: "UTC")!
        var transitions: [Int64] = []
        var offsets: [Int64] = [Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: 0)))]
        var cursor = Date(timeIntervalSince1970: 0)
        let end = Date(timeIntervalSince1970: 4_102_444_800)  // 2100-01-01
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < end {
            transitions.append(Int64(next.timeIntervalSince1970.rounded()))
            offsets.append(Int64(zone.secondsFromGMT(for: next)))
            cursor = next
        }
        self.transitions = transitions
        self.offsets = offsets
    }

    /// The offset in force at `seconds` and the interval [from, until) it holds for.
    func lookup(_ seconds: Int64) -> (offset: Int64, from: Int64, until: Int64) {
        var lo = 0, hi = transitions.count  // first transition > seconds
        while lo < hi {
            let mid = (lo + hi) / 2
            if transitions[mid] <= seconds { lo = mid + 1 } else { hi = mid }
        }
        let from = lo == 0 ? Int64.min : transitions[lo - 1]
        let until = lo == transitions.count ? Int64.max : transitions[lo]
        return (offsets[lo], from, until)
    }

    /// The zones the exchange map names, built once (thread-safe lazy static).
    static let known: [String: ZoneOffsets] = {
        var zones: [String: ZoneOffsets] = [:]
        for id in ["UTC", "Asia/Kolkata", "America/New_York"] { zones[id] = ZoneOffsets(identifier: id) }
        return zones
    }()

    static func named(_ identifier: String) -> ZoneOffsets { known[identifier] ?? known["UTC"]! }
}

/// A zone with the last offset interval it answered: time-ordered lookups cost a comparison.
struct ZoneCursor {
    let zone: ZoneOffsets
    private var from = Int64.max, until = Int64.min, offset: Int64 = 0

    init(_ zone: ZoneOffsets) { self.zone = zone }

    /// The local wall-clock second for the UTC second.
    @inline(__always) mutating func local(_ seconds: Int64) -> Int64 {
        if seconds < from || seconds >= until {
            let hit = zone.lookup(seconds)
            (offset, from, until) = (hit.offset, hit.from, hit.until)
        }
        return seconds + offset
    }
}
