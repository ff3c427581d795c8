import Foundation

extension Decimal {
    /// Rounded to `scale` fraction digits.
    public func rounded(scale: Int, _ mode: NSDecimalNumber.RoundingMode = .bankers) -> Decimal {
        var source = self
        var result = Decimal()
        NSDecimalRound(&result, &source, scale, mode)
        return result
    }

    /// True when `self` is a whole multiple of `step` (lot sizes, tick sizes).
    public func isMultiple(of step: Decimal) -> Bool {
        guard step > 0 else { return true }
        // A whole number (a non-negative exponent: significand × 10^exponent) is a multiple of 1 (a
        // lot size of 1, every Indian equity) without the Double estimate's two NSDecimalNumbers.
        if !isNaN, exponent >= 0, step == 1 { return true }
        // Decimal division costs ~17 µs here; a Double estimate of the ratio, checked exactly by
        // multiplying back, answers the same for every ratio below 10^15 (its estimate rounds to the
        // true whole ratio, and a product equal to `self` proves the multiple).
        let estimate = (NSDecimalNumber(decimal: self).doubleValue / NSDecimalNumber(decimal: step).doubleValue).rounded()
        if estimate.isFinite, abs(estimate) < 1e15 { return Decimal(Int(estimate)) * step == self }
        let ratio = self / step
        return ratio == ratio.rounded(scale: 0, .down)
    }

    /// `(self / divisor).rounded(scale: scale)`, without Decimal's division (~17 µs here) when the
    /// quotient has at most `scale` fraction digits (an average fill price usually has): a Double
    /// estimate, kept only when multiplying it back gives `self` exactly, i.e. when it is the exact
    /// quotient, which rounding would not change.
    public func divided(by divisor: Decimal, roundedToScale scale: Int) -> Decimal {
        let estimate = NSDecimalNumber(decimal: self).doubleValue / NSDecimalNumber(decimal: divisor).doubleValue
        let scaled = (estimate * pow(10, Double(scale))).rounded()
        if scaled.isFinite, abs(scaled) < 1e15 {
            let candidate = Decimal(sign: scaled < 0 ? .minus : .plus, exponent: -scale, significand: Decimal(Int(abs(scaled))))
            if candidate * divisor == self { return candidate }
        }
        return (self / divisor).rounded(scale: scale)
    }

    /// The nearest multiple of `step`.
    public func roundedToMultiple(of step: Decimal) -> Decimal {
        guard step > 0 else { return self }
        return (self / step).rounded(scale: 0, .plain) * step
    }
}
