import TMCore

/// Money at eighteen decimal places in an `Int128`: a product of two nine-place `FixedDecimal`s
/// (price difference × quantity) is exact here, so realized and unrealized P&L and every sum of
/// them are computed without rounding. `FixedDecimal *` rounds to nine places; the engine never
/// uses it. A figure is rounded once, half away from zero, to nine places when it is put in a
/// report (`fixed`), and a quotient (an average) is rounded the same way.
///
/// Range: ±1.7 × 10²⁰ in money; a product or sum beyond saturates (as `FixedDecimal` does) rather
/// than trapping.
enum ExactAmount {
    static let nine: Int128 = 1_000_000_000

    /// A nine-place `FixedDecimal` value at eighteen places.
    @inline(__always) static func wide(_ units: Int128) -> Int128 { product(units, nine) }

    /// `a × b` of two nine-place unit values: exactly, at eighteen places.
    @inline(__always) static func product(_ a: Int128, _ b: Int128) -> Int128 {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { return (a < 0) != (b < 0) ? -Int128.max : .max }
        return p
    }

    @inline(__always) static func sum(_ a: Int128, _ b: Int128) -> Int128 {
        let (s, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { return b > 0 ? .max : -Int128.max }
        return s
    }

    /// `numerator / denominator` rounded half away from zero (denominator > 0).
    @inline(__always) static func roundedQuotient(_ numerator: Int128, _ denominator: Int128) -> Int128 {
        let (q, r) = divide(numerator, denominator)
        let twice = r.magnitude &* 2
        guard twice >= denominator.magnitude else { return q }
        return numerator < 0 ? q - 1 : q + 1
    }

    /// Truncating `n / d` and `n % d`. The standard library's `Int128` division goes through generic
    /// code (about a microsecond); a divisor below 2⁶⁴ — every quantity, count and scale here — is
    /// two hardware divisions.
    @inline(__always) static func divide(_ n: Int128, _ d: Int128) -> (quotient: Int128, remainder: Int128) {
        let dm = d.magnitude
        guard dm._high == 0, dm._low != 0, n != .min else { return (n / d, n % d) }
        let nm = n.magnitude
        let divisor = dm._low
        let (q1, r1) = nm._high.quotientAndRemainder(dividingBy: divisor)
        let (q0, r0) = divisor.dividingFullWidth((r1, nm._low))
        var q = Int128(_low: q0, _high: Int64(bitPattern: q1))
        var r = Int128(_low: r0, _high: 0)
        if (n < 0) != (d < 0) { q = 0 - q }
        if n < 0 { r = 0 - r }
        return (q, r)
    }

    /// `Int128` → `Double` without the standard library's generic conversion (slow for `Int128`);
    /// beyond ±2⁶³ it may be one unit in the last place off the correctly rounded value (ratios only).
    @inline(__always) static func toDouble(_ v: Int128) -> Double {
        let high = v._high, low = v._low
        if (high == 0 && low < 1 << 63) || (high == -1 && low >= 1 << 63) { return Double(Int64(bitPattern: low)) }
        return Double(high) * 18_446_744_073_709_551_616.0 + Double(low)
    }

    @inline(__always) static func int128(_ value: Int) -> Int128 { Int128(_low: UInt64(bitPattern: Int64(value)), _high: value < 0 ? -1 : 0) }

    /// An eighteen-place amount rounded half away from zero to a nine-place `FixedDecimal`.
    static func fixed(_ wide: Int128) -> FixedDecimal { FixedDecimal(units: roundedQuotient(wide, nine)) }

    /// `wide / count` as a nine-place `FixedDecimal` (one rounding); nil when count is 0.
    static func average(_ wide: Int128, over count: Int) -> FixedDecimal? {
        guard count > 0 else { return nil }
        return FixedDecimal(units: roundedQuotient(wide, nine * int128(count)))
    }

    static func double(_ wide: Int128) -> Double { toDouble(wide) / 1e18 }
}
