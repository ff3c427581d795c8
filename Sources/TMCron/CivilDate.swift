/// Proleptic Gregorian calendar arithmetic on whole days counted from 1970-01-01, with no time zone.
///
/// The schedule engine works on "wall" times — local clock readings expressed as seconds since
/// 1970-01-01T00:00 *as if* the zone were UTC — so that matching a cron field is integer arithmetic
/// and a zone is consulted only to turn a wall time into an instant (see `LocalTime`).
struct CivilDate: Hashable, Sendable {
    var year: Int64
    var month: Int  // 1...12
    var day: Int  // 1...31

    /// Days in a 400-year Gregorian cycle; the calendar repeats exactly with this period.
    private static let daysPer400Years: Int64 = 146_097

    /// The date `dayNumber` days after 1970-01-01 (negative: before it).
    init(dayNumber: Int64) {
        // Count from 0000-03-01 so that the leap day is the last day of the (March-based) year.
        let shifted = dayNumber + 719_468
        let era = floorDiv(shifted, Self.daysPer400Years)
        let dayOfEra = shifted - era * Self.daysPer400Years  // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365, from March 1
        let marchMonth = (5 * dayOfYear + 2) / 153  // 0 = March ... 11 = February
        day = Int(dayOfYear - (153 * marchMonth + 2) / 5 + 1)
        month = Int(marchMonth < 10 ? marchMonth + 3 : marchMonth - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    init(year: Int64, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days from 1970-01-01 to this date; the inverse of `init(dayNumber:)`.
    var dayNumber: Int64 {
        let marchYear = month <= 2 ? year - 1 : year
        let era = floorDiv(marchYear, 400)
        let yearOfEra = marchYear - era * 400
        let marchMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * marchMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * Self.daysPer400Years + dayOfEra - 719_468
    }

    /// The first day of the following month.
    var firstOfNextMonth: CivilDate {
        month == 12 ? CivilDate(year: year + 1, month: 1, day: 1) : CivilDate(year: year, month: month + 1, day: 1)
    }

    /// 0 = Sunday ... 6 = Saturday, as cron numbers them; 1970-01-01 was a Thursday.
    static func weekday(ofDayNumber dayNumber: Int64) -> Int {
        Int(floorMod(dayNumber + 4, 7))
    }

    static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    /// The longest a month can be in any year (February: 29), for refusing impossible day-of-month fields.
    static func maximumDays(inMonth month: Int) -> Int {
        switch month {
        case 2: 29
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Division rounding toward negative infinity, so that times before 1970 land in the right day.
@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always) func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    a - floorDiv(a, b) * b
}

/// Seconds in a civil day of wall time (wall time has no leap seconds and no DST: it is a clock reading).
let secondsPerDay: Int64 = 86_400
