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
        let q = numerator / denominator, r = numerator % denominator
        let twice = r.magnitude * 2
        guard twice >= denominator.magnitude else { return q }
        return numerator < 0 ? q - 1 : q + 1
    }

    /// An eighteen-place amount rounded half away from zero to a nine-place `FixedDecimal`.
    static func fixed(_ wide: Int128) -> FixedDecimal { FixedDecimal(units: roundedQuotient(wide, nine)) }

    /// `wide / count` as a nine-place `FixedDecimal` (one rounding); nil when count is 0.
    static func average(_ wide: Int128, over count: Int) -> FixedDecimal? {
        guard count > 0 else { return nil }
        return FixedDecimal(units: roundedQuotient(wide, nine * Int128(count)))
    }

    static func double(_ wide: Int128) -> Double { Double(wide) / 1e18 }
}
