import Foundation

// MARK: - Normal

/// The standard normal distribution N(0, 1).
public enum NormalDistribution {
    /// Φ(x) = P(Z ≤ x), as ½·erfc(−x/√2): erfc keeps full relative precision in the lower
    /// tail, where 1 − ½·erfc(x/√2) would round to 0.
    public static func cdf(_ x: Double) -> Double {
        0.5 * erfc(-x / 2.0.squareRoot())
    }

    /// The density φ(x) = e^(−x²/2)/√(2π).
    public static func density(_ x: Double) -> Double {
        exp(-0.5 * x * x - Special.logSqrt2Pi)
    }

    /// Φ⁻¹(p), the z with P(Z ≤ z) = p. NaN outside [0, 1]; ∓∞ at 0 and 1.
    ///
    /// Acklam's rational approximation (relative error < 1.2e-9) refined by two Halley steps on
    /// the erfc-based cdf, which brings it to full double precision.
    public static func quantile(_ p: Double) -> Double {
        guard p >= 0, p <= 1 else { return .nan }   // also rejects NaN
        if p == 0 { return -.infinity }
        if p == 1 { return .infinity }
        // Work in the lower tail where cdf has full relative precision. For p > ½, 1 − p is
        // exact (Sterbenz), so the symmetry costs nothing.
        if p > 0.5 { return -lowerQuantile(1 - p) }
        return lowerQuantile(p)
    }

    /// Φ⁻¹(p) for 0 < p ≤ ½.
    private static func lowerQuantile(_ p: Double) -> Double {
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x = (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
                   - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
                / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
                    + 3.754408661907416e+00) * q + 1)
        } else {
            let q = p - 0.5, r = q * q
            x = (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
                   + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
                / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
                     + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1)
        }
        for _ in 0..<2 {
            // Halley: u = (Φ(x) − p)/φ(x), written as (Φ(x)/p − 1)·p/φ(x) with p/φ(x) in logs,
            // because φ(x) underflows long before p does (p can be 1e-300).
            let u = (cdf(x) / p - 1) * exp(log(p) + 0.5 * x * x + Special.logSqrt2Pi)
            x -= u / (1 + 0.5 * x * u)
        }
        return x
    }
}

// MARK: - Student's t

/// Student's t distribution with ν > 0 degrees of freedom (ν need not be an integer).
///
/// The tails come from the regularized incomplete beta: P(|T| ≥ |t|) = I_x(ν/2, ½) with
/// x = ν/(ν + t²). All functions return NaN for ν ≤ 0 or NaN arguments; ν = +∞ is the normal.
/// Huge finite ν needs no switch to the normal: the incomplete beta takes a series that stays
/// exact there (see Special.incompleteBetaHalfLargeA), so t(ν) → z continuously.
public enum StudentT {
    /// P(T ≤ t).
    public static func cdf(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard df > 0, !t.isNaN else { return .nan }
        if df == .infinity { return NormalDistribution.cdf(t) }
        let tail = upperTail(abs(t), df)
        return t < 0 ? tail : 1 - tail
    }

    /// Two-sided p-value P(|T| ≥ |t|).
    public static func twoSidedPValue(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard df > 0, !t.isNaN else { return .nan }
        if df == .infinity { return min(1, 2 * NormalDistribution.cdf(-abs(t))) }
        return min(1, 2 * upperTail(abs(t), df))
    }

    /// The density f(t) = Γ((ν + 1)/2) / (√(νπ)·Γ(ν/2)) · (1 + t²/ν)^(−(ν + 1)/2).
    public static func density(_ t: Double, degreesOfFreedom df: Double) -> Double {
        guard df > 0, !t.isNaN else { return .nan }
        if df == .infinity { return NormalDistribution.density(t) }
        let r = abs(t) / df.squareRoot()
        // ln(1 + r²), without overflowing r² for huge |t|.
        let log1pR2 = r <= 1 ? log1p(r * r) : 2 * log(r) + log1p(1 / (r * r))
        return exp(Special.logGammaIncrement(df / 2, 0.5) - 0.5 * log(df * Double.pi)
                   - (df + 1) / 2 * log1pR2)
    }

    /// Quantile: the q with P(T ≤ q) = p. NaN outside [0, 1]; ∓∞ at 0 and 1.
    ///
    /// Solved by safeguarded Newton iteration on the cdf; against 50-digit mpmath the relative
    /// error was below 3e-14 for ν from 0.3 to 1e16 and p from 1e-300 to 0.4999.
    /// quantile(0.975, 1) = 12.7062047…, (0.975, 4) = 2.7764451…, (0.975, 29) = 2.0452296…,
    /// → 1.959964 as ν → ∞ (ν = +∞ is answered by the normal quantile).
    public static func quantile(_ p: Double, degreesOfFreedom df: Double) -> Double {
        guard df > 0, p >= 0, p <= 1 else { return .nan }   // also rejects NaN
        if p == 0 { return -.infinity }
        if p == 1 { return .infinity }
        if p == 0.5 { return 0 }
        if df == .infinity { return NormalDistribution.quantile(p) }
        // Solve in the tail that holds p, where the tail probability is computed directly
        // (relative accuracy); 1 − p is exact for p > ½.
        return p < 0.5 ? -upperQuantile(p, df) : upperQuantile(1 - p, df)
    }

    /// P(T > u) for u ≥ 0, i.e. ½·I_x(ν/2, ½).
    static func upperTail(_ u: Double, _ df: Double) -> Double {
        halves(u, df).tail
    }

    /// For u ≥ 0: tail = P(T > u) and centre = P(0 < T ≤ u) = ½ − tail. Whichever of the two is
    /// small is computed directly (the other as ½ minus it), so a small one has full relative
    /// precision: the tail for large u, the centre for u near 0.
    static func halves(_ u: Double, _ df: Double) -> (tail: Double, centre: Double) {
        // With r = u/√ν: x = 1/(1 + r²) and y = 1 − x = r²/(1 + r²). Both, and their logs,
        // are formed without subtracting from 1; for r > 1 through s = 1/r so that r² cannot
        // overflow (x then underflows gracefully while ln x stays finite).
        let r = u / df.squareRoot()
        let x, y, logX, logY: Double
        if r <= 1 {
            let r2 = r * r
            x = 1 / (1 + r2); y = r2 / (1 + r2)
            logX = -log1p(r2); logY = 2 * log(r) - log1p(r2)
        } else {
            let s = 1 / r, s2 = s * s
            x = s2 / (1 + s2); y = 1 / (1 + s2)
            logX = 2 * log(s) - log1p(s2); logY = -log1p(s2)
        }
        let beta = Special.incompleteBeta(a: df / 2, b: 0.5, x: x, y: y, logX: logX, logY: logY)
        return (0.5 * beta.lower, 0.5 * beta.upper)
    }

    /// The u > 0 with P(T > u) = tail, for 0 < tail < ½.
    static func upperQuantile(_ tail: Double, _ df: Double) -> Double {
        // Near the centre u is fixed by the small central mass ½ − tail, not by the tail
        // (an error of 1e-16 in a tail of 0.4999 moves u by 1e-12 relative), so there the
        // equation is P(0 < T ≤ u) = ½ − tail instead; ½ − tail is exact for tail ≥ ¼.
        let useCentre = tail > 0.25
        let target = useCentre ? 0.5 - tail : tail
        let logTarget = log(target)
        // Newton's method on the logarithm, h(u) = ln P − ln target, which is close to linear in
        // both the Gaussian body and the power-law tails (plain Newton on P crawls in a heavy
        // tail). A bracket [low, high] around the root is kept throughout;
        // a step that leaves it is replaced by bisection (geometric when the bracket spans
        // orders of magnitude), so the iteration always converges.
        // u lies below the root iff its tail is still too big, i.e. its centre still too small;
        // the test reads whichever of the two is the accurate one here.
        func isBelowRoot(_ halves: (tail: Double, centre: Double)) -> Bool {
            useCentre ? halves.centre < target : halves.tail > target
        }
        var low = 0.0
        var high = Swift.max(1, -NormalDistribution.quantile(tail))
        while isBelowRoot(halves(high, df)) {
            low = high
            high *= 2
            if high == .infinity { return .infinity }   // the quantile overflows a Double
        }
        var u = high
        for _ in 0..<200 {
            let (tailAtU, centreAtU) = halves(u, df)
            if isBelowRoot((tailAtU, centreAtU)) { low = u } else { high = u }
            let f = density(u, degreesOfFreedom: df)
            // u − h/h′, with h′ = −f/tail or +f/centre.
            var next = useCentre
                ? u - (log(centreAtU) - logTarget) * centreAtU / f
                : u + (log(tailAtU) - logTarget) * tailAtU / f
            if !(next > low && next < high) {   // also catches NaN
                next = (low > 0 && high > 4 * low) ? (low * high).squareRoot() : 0.5 * (low + high)
            }
            // Newton converges quadratically, so a step of 1e-14·u leaves an error far below
            // that (down to the rounding noise of the cdf, measured ≲ 2e-14 relative).
            if abs(next - u) <= 1e-14 * next || high - low <= 4 * high.ulp {
                return next
            }
            u = next
        }
        return u
    }
}

// MARK: - Chi-squared

/// The χ² distribution with k > 0 degrees of freedom.
public enum ChiSquared {
    /// P(X ≥ x) = Q(k/2, x/2), the upper regularized incomplete gamma (computed directly, so
    /// small p-values keep their relative accuracy). 1 for x ≤ 0; NaN for k ≤ 0 or NaN input.
    public static func survival(_ x: Double, degreesOfFreedom df: Double) -> Double {
        guard df > 0, !x.isNaN, df < .infinity else { return .nan }
        return Special.incompleteGamma(a: df / 2, x: x / 2).upper
    }

    /// P(X ≤ x) = P(k/2, x/2).
    public static func cdf(_ x: Double, degreesOfFreedom df: Double) -> Double {
        guard df > 0, !x.isNaN, df < .infinity else { return .nan }
        return Special.incompleteGamma(a: df / 2, x: x / 2).lower
    }
}

// MARK: - Binomial

public enum BinomialTest {
    /// Exact two-sided p for k successes in n trials with success probability ½:
    /// min(1, 2·P(X ≤ min(k, n − k))). This equals scipy.stats.binomtest(k, n).pvalue, whose
    /// "sum of outcomes no more likely than k" rule reduces to this for the symmetric p = ½.
    /// n = 0 gives 1.
    public static func twoSidedHalf(k: Int, n: Int) -> Double {
        precondition(n >= 0 && k >= 0 && k <= n, "need 0 ≤ k ≤ n")
        let m = Swift.min(k, n - k)
        if 2 * m == n { return 1 }     // k is the mode: every outcome counts
        return Swift.min(1, 2 * lowerTailHalf(m, n))
    }

    /// P(X ≤ m) for X ~ Binomial(n, ½) and m < n/2.
    static func lowerTailHalf(_ m: Int, _ n: Int) -> Double {
        if n <= 60 {
            // Exactly: Σᵢ₌₀ᵐ C(n, i) is an integer below 2⁶⁰, so it is summed in UInt64 and
            // rounded once; the scaling by 2⁻ⁿ is exact. (C(n, i)·(n − i) stays below 2⁶⁴ for
            // n ≤ 60, and the division is exact because C(n, i)·(n − i) = C(n, i + 1)·(i + 1).)
            var coefficient: UInt64 = 1
            var sum: UInt64 = 1
            for i in 0..<m {
                coefficient = coefficient * UInt64(n - i) / UInt64(i + 1)
                sum += coefficient
            }
            return Double(sum) * pow(2, -Double(n))
        }
        // Sum downwards from the largest term, P(X = m), using
        // P(X = i − 1) = P(X = i) · i/(n − i + 1); the terms shrink, so stop once they no
        // longer change the sum.
        var term = probabilityHalf(m, n)
        var sum = term
        var i = m
        while i > 0 {
            term *= Double(i) / Double(n - i + 1)
            let next = sum + term
            if next == sum { break }
            sum = next
            i -= 1
        }
        return sum
    }

    /// P(X = k) for X ~ Binomial(n, ½), with Loader's saddle-point form (exact to rounding, no
    /// cancellation of large log-factorials even for large n):
    /// ln P = δ(n) − δ(k) − δ(n − k) − bd0(k, n/2) − bd0(n − k, n/2) + ½·ln(n / (2π k (n − k))).
    static func probabilityHalf(_ k: Int, _ n: Int) -> Double {
        if k == 0 || k == n { return exp(Double(n) * -M_LN2) }
        let nn = Double(n), kk = Double(k), rest = Double(n - k), half = nn / 2
        let logP = Special.stirlingError(nn) - Special.stirlingError(kk) - Special.stirlingError(rest)
            - Special.bd0(kk, half) - Special.bd0(rest, half)
            + 0.5 * log(nn / (kk * rest)) - Special.logSqrt2Pi
        return exp(logP)
    }
}
