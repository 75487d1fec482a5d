import Foundation

/// Special functions behind the distributions. Internal: the public surface is the distributions.
///
/// Everything here works with logarithms of the large Gamma-function factors and recombines them
/// only at the end, so that tail probabilities keep their *relative* accuracy (a p-value of 1e-30
/// is as exact as one of 0.3), and large arguments (many degrees of freedom, many trials) do not
/// lose their digits to the cancellation of two huge lgamma values.
enum Special {
    /// ½·ln(2π).
    static let logSqrt2Pi = 0.918938533204672741780329736406

    /// Convergence criterion for the series and continued fractions: a relative change of at most
    /// two ulps. (Exactly 1 ulp can be missed forever through rounding, hence the factor 2.)
    static let epsilon = 2 * Double.ulpOfOne

    /// Guard against a zero denominator in the modified Lentz algorithm (Numerical Recipes §5.2).
    static let tiny = 1e-300

    /// Upper bound on iterations. In practice the fractions below converge in well under 100
    /// steps for every argument we use (measured up to 1e20 degrees of freedom); the bound only
    /// stops a runaway loop on NaN input.
    static let maxIterations = 100_000

    // MARK: Gamma function pieces

    /// ln|Γ(x)| from the C library. On glibc, plain lgamma also writes the global `signgam`,
    /// a data race when statistics are computed on several threads at once, so the reentrant
    /// lgamma_r is used there.
    static func logGamma(_ x: Double) -> Double {
        #if canImport(Glibc)
        var sign: Int32 = 0
        return lgamma_r(x, &sign)
        #else
        return lgamma(x)
        #endif
    }

    /// Stirling's error δ(a) = lnΓ(a) − [(a − ½)·ln a − a + ½·ln(2π)].
    ///
    /// δ is small (≈ 1/(12a)), so differences of log-gammas written through it do not cancel.
    /// For a ≥ 15 the asymptotic series Σ B₂ₖ / (2k(2k − 1)·a^(2k−1)) is used; its first omitted
    /// term is below 1e-17 there. Below 15 the values are small enough to take ln Γ directly.
    static func stirlingError(_ a: Double) -> Double {
        if a < 15 {
            return logGamma(a) - ((a - 0.5) * log(a) - a + logSqrt2Pi)
        }
        let r = 1 / a, r2 = r * r
        return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680
            - r2 * (1.0 / 1188 - r2 * (691.0 / 360_360))))))
    }

    /// lnΓ(a + b) − lnΓ(a), accurate also when a is huge (e.g. a = ν/2 for ν = 1e12), where the
    /// two lgamma values would agree in their first dozen digits.
    static func logGammaIncrement(_ a: Double, _ b: Double) -> Double {
        if a < 15 { return logGamma(a + b) - logGamma(a) }
        // Write both log-gammas with Stirling's formula; the big terms then combine analytically:
        // (a + b − ½)ln(a + b) − (a − ½)ln a − b = (a − ½)·ln(1 + b/a) + b·ln(a + b) − b.
        return (a - 0.5) * log1p(b / a) + b * log(a + b) - b
            + stirlingError(a + b) - stirlingError(a)
    }

    /// −ln B(a, b) = lnΓ(a + b) − lnΓ(a) − lnΓ(b), the big argument handled by logGammaIncrement.
    static func negativeLogBeta(_ a: Double, _ b: Double) -> Double {
        a >= b ? logGammaIncrement(a, b) - logGamma(b) : logGammaIncrement(b, a) - logGamma(a)
    }

    /// Loader's deviance term bd0(x, m) = x·ln(x/m) + m − x ≥ 0.
    ///
    /// When x ≈ m the two parts of the direct formula nearly cancel, so there the series in
    /// v = (x − m)/(x + m) is summed instead (C. Loader, "Fast and accurate computation of
    /// binomial probabilities", 2000; the same routine as R's dbinom).
    static func bd0(_ x: Double, _ m: Double) -> Double {
        if x == 0 { return m }
        if abs(x - m) < 0.1 * (x + m) {
            let v = (x - m) / (x + m)
            let v2 = v * v
            var sum = (x - m) * v
            var term = 2 * x * v
            var j = 1.0
            while j < 1000 {
                term *= v2
                let next = sum + term / (2 * j + 1)
                if next == sum { break }
                sum = next
                j += 1
            }
            return sum
        }
        return x * log(x / m) + m - x
    }

    // MARK: Regularized incomplete beta

    /// Regularized incomplete beta I_x(a, b) together with its complement 1 − I_x(a, b).
    ///
    /// Whichever of the two is the continued-fraction side is computed directly and the other one
    /// as 1 minus it (Numerical Recipes `betai`): the fraction for I_x(a, b) converges quickly
    /// when x < (a + 1)/(a + b + 2), and I_x(a, b) = 1 − I_{1−x}(b, a) otherwise. Because the
    /// fraction side is the smaller probability's side (up to the neighbourhood of the median,
    /// where neither is small), small tails keep full precision.
    ///
    /// x and y = 1 − x are passed separately, with their logarithms, because the callers can form
    /// them without cancellation or overflow (for Student's t with huge ν, x rounds to 1 while
    /// y = t²/(ν + t²) is still well defined; for huge |t|, x underflows while ln x does not).
    static func incompleteBeta(a: Double, b: Double,
                               x: Double, y: Double,
                               logX: Double, logY: Double) -> (lower: Double, upper: Double) {
        if logX == -.infinity { return (0, 1) }
        if logY == -.infinity { return (1, 0) }
        // The side test x < (a + 1)/(a + b + 2) of Numerical Recipes, written with y: near
        // x = 1 (huge a) both sides of the x form round to 1 while the y form stays exact.
        let lowerSide = y > (b + 1) / (a + b + 2)
        if lowerSide && b == 0.5 && a >= 50 && -logX < 1 {
            // The fraction for I_x(a, b) reads x, which for huge a is 1 − y rounded; its result
            // then loses about a·ε (measured: 6e-13 at ν = 2a = 1e4, 4e-11 at ν = 1e6). Student's
            // t with many degrees of freedom lands here, so it takes the series below, which
            // reads only ln x.
            let lower = incompleteBetaHalfLargeA(a: a, u: -logX)
            return (lower, 1 - lower)
        }
        // x^a · y^b / B(a, b), formed in logs.
        let front = exp(a * logX + b * logY + negativeLogBeta(a, b))
        if lowerSide {
            let lower = front * betaContinuedFraction(a: a, b: b, x: x) / a
            return (lower, 1 - lower)
        } else {
            let upper = front * betaContinuedFraction(a: b, b: a, x: y) / b
            return (1 - upper, upper)
        }
    }

    /// The continued fraction for I_x(a, b) (Numerical Recipes `betacf`), evaluated with the
    /// modified Lentz algorithm; the result times x^a·y^b / (a·B(a, b)) is I_x(a, b).
    static func betaContinuedFraction(a: Double, b: Double, x: Double) -> Double {
        let qab = a + b, qap = a + 1, qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for step in 1...maxIterations {
            let m = Double(step), m2 = 2 * m
            // Even step of the fraction.
            var coefficient = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + coefficient * d
            if abs(d) < tiny { d = tiny }
            c = 1 + coefficient / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            // Odd step.
            coefficient = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + coefficient * d
            if abs(d) < tiny { d = tiny }
            c = 1 + coefficient / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) <= epsilon { break }
        }
        return h
    }

    /// Taylor coefficients cₙ of g(s) = (s / (1 − e^(−s)))^½ about s = 0 (radius of convergence
    /// 2π), for incompleteBetaHalfLargeA. g = f^(−½) with f(s) = (1 − e^(−s))/s = Σ (−s)ⁿ/(n + 1)!,
    /// and the power of a series follows J. C. P. Miller's recurrence
    /// pₙ = (1/n) Σₖ₌₁ⁿ ((α + 1)k − n)·fₖ·pₙ₋ₖ with α = −½.
    static let halfPowerCoefficients: [Double] = {
        let count = 60
        var f = [Double](repeating: 0, count: count)
        var factorial = 1.0
        for n in 0..<count {
            factorial *= Double(n + 1)
            f[n] = (n % 2 == 0 ? 1 : -1) / factorial
        }
        let alpha = -0.5
        var p = [Double](repeating: 0, count: count)
        p[0] = 1
        for n in 1..<count {
            var sum = 0.0
            for k in 1...n {
                sum += ((alpha + 1) * Double(k) - Double(n)) * f[k] * p[n - k]
            }
            p[n] = sum / Double(n)
        }
        return p
    }()

    /// I_x(a, ½) for large a (≥ 50) and u = −ln x < 1, i.e. x close to 1.
    ///
    /// With x = e^(−u) and t = e^(−s) the integral becomes
    ///   I_x(a, ½) = (1/B(a, ½)) ∫_u^∞ e^(−as) s^(−½) g(s) ds,  g(s) = (s/(1 − e^(−s)))^½.
    /// Expanding g = Σ cₙ sⁿ and integrating term by term gives (DiDonato & Morris' BGRAT idea)
    ///   I_x(a, ½) = Σ cₙ Wₙ,  Wₙ = Γ(½ + n, au) / (a^(½ + n) B(a, ½)),
    /// where W₀ = erfc(√(au))·Γ(a + ½)/(Γ(a)·√a) and, from Γ(s + 1, z) = sΓ(s, z) + zˢe^(−z),
    ///   Wₙ₊₁ = ((½ + n)/a)·Wₙ + Eₙ,  Eₙ = u^(½ + n) e^(−au) / (a B(a, ½)).
    /// Terms shrink at least like max(n/a, u/2π), so a few dozen suffice; the part of the
    /// integral beyond the radius 2π is below e^(−a(2π − u)) < 1e-110 relative. Only ln x
    /// enters, never x itself, which is what keeps this exact where the fraction is not.
    static func incompleteBetaHalfLargeA(a: Double, u: Double) -> Double {
        let b = 0.5
        let au = a * u
        var w = erfc(au.squareRoot()) * exp(logGammaIncrement(a, b) - b * log(a))
        var e = exp(b * log(u) - au - log(a) + negativeLogBeta(a, b))
        let c = halfPowerCoefficients
        var sum = c[0] * w
        for n in 0..<(c.count - 1) {
            w = (b + Double(n)) / a * w + e
            e *= u
            let term = c[n + 1] * w
            sum += term
            if abs(term) <= abs(sum) * epsilon { break }
        }
        return sum
    }

    // MARK: Regularized incomplete gamma

    /// Regularized incomplete gamma P(a, x) and its complement Q(a, x) = 1 − P(a, x), the smaller
    /// side computed directly: series for P when x < a + 1, continued fraction for Q otherwise
    /// (Numerical Recipes `gser` / `gcf`).
    static func incompleteGamma(a: Double, x: Double) -> (lower: Double, upper: Double) {
        if x <= 0 { return (0, 1) }
        if x == .infinity { return (1, 0) }
        // x^a·e^(−x) / Γ(a) in logs. With lnΓ(a) = (a − ½)·ln a − a + ½·ln 2π + δ(a),
        //   a·ln x − x − lnΓ(a) = −bd0(a, x) + ½·ln a − ½·ln 2π − δ(a),
        // which stays accurate for large a with x ≈ a, where the direct form cancels.
        let logFront = -bd0(a, x) + 0.5 * log(a) - logSqrt2Pi - stirlingError(a)
        let front = exp(logFront)
        if x < a + 1 {
            // P(a, x) = front · Σₙ xⁿ / (a (a + 1) ⋯ (a + n)).
            var denominator = a
            var term = 1 / a
            var sum = term
            for _ in 0..<maxIterations {
                denominator += 1
                term *= x / denominator
                sum += term
                if abs(term) <= abs(sum) * epsilon { break }
            }
            let lower = front * sum
            return (lower, 1 - lower)
        } else {
            // Q(a, x) = front · 1/(x + 1 − a − 1·(1 − a)/(x + 3 − a − 2·(2 − a)/(x + 5 − a − ⋯))).
            var b = x + 1 - a
            var c = 1 / tiny
            var d = 1 / b
            var h = d
            for step in 1...maxIterations {
                let i = Double(step)
                let an = -i * (i - a)
                b += 2
                d = an * d + b
                if abs(d) < tiny { d = tiny }
                c = b + an / c
                if abs(c) < tiny { c = tiny }
                d = 1 / d
                let delta = d * c
                h *= delta
                if abs(delta - 1) <= epsilon { break }
            }
            let upper = front * h
            return (1 - upper, upper)
        }
    }
}
