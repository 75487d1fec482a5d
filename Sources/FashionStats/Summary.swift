import Foundation

/// Mean, sample standard deviation (n − 1 in the denominator), and the Student-t confidence
/// interval for the mean, mean ± t(1 − α/2, n − 1)·s/√n with α = 1 − confidence.
public struct Summary: Sendable, Equatable {
    public let count: Int
    public let mean: Double
    /// Sample standard deviation s, with n − 1 in the denominator.
    public let standardDeviation: Double
    /// s/√n.
    public let standardError: Double
    /// The two-sided confidence level, e.g. 0.95.
    public let confidence: Double
    /// t(1 − α/2, n − 1); NaN when count = 1 (there are no degrees of freedom).
    public let tCritical: Double
    public let lower: Double
    public let upper: Double

    /// Summarises `values` (at least one). With a single value, standardDeviation and
    /// standardError are 0, lower = upper = mean, and tCritical is NaN: one observation carries
    /// no information about spread, so the "interval" is only the point itself.
    /// `confidence` must lie strictly between 0 and 1.
    public static func of(_ values: [Double], confidence: Double = 0.95) -> Summary {
        precondition(!values.isEmpty, "Summary needs at least one value")
        precondition(confidence > 0 && confidence < 1, "confidence must be in (0, 1)")
        let n = values.count
        let mean = values.reduce(0, +) / Double(n)
        guard n > 1 else {
            return Summary(count: 1, mean: mean, standardDeviation: 0, standardError: 0,
                           confidence: confidence, tCritical: .nan, lower: mean, upper: mean)
        }
        // Two passes: Σ(x − x̄)² instead of Σx² − n·x̄², which cancels badly for accuracies
        // that agree in their first digits. The second term corrects for the rounding of x̄
        // (the "corrected two-pass" formula of Chan, Golub & LeVeque); it is 0 in exact arithmetic.
        var sumOfSquares = 0.0
        var sumOfDeviations = 0.0
        for value in values {
            let deviation = value - mean
            sumOfSquares += deviation * deviation
            sumOfDeviations += deviation
        }
        let variance = Swift.max(0, (sumOfSquares - sumOfDeviations * sumOfDeviations / Double(n))
                                 / Double(n - 1))
        let standardDeviation = variance.squareRoot()
        let standardError = standardDeviation / Double(n).squareRoot()
        let tCritical = StudentT.quantile(1 - (1 - confidence) / 2, degreesOfFreedom: Double(n - 1))
        let halfWidth = tCritical * standardError
        return Summary(count: n, mean: mean, standardDeviation: standardDeviation,
                       standardError: standardError, confidence: confidence, tCritical: tCritical,
                       lower: mean - halfWidth, upper: mean + halfWidth)
    }

    /// Field-by-field equality in which NaN equals NaN, so that a one-value summary (tCritical
    /// is NaN) is equal to itself; the synthesised == would make it unequal to everything.
    public static func == (lhs: Summary, rhs: Summary) -> Bool {
        func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
        return lhs.count == rhs.count && same(lhs.mean, rhs.mean)
            && same(lhs.standardDeviation, rhs.standardDeviation)
            && same(lhs.standardError, rhs.standardError) && same(lhs.confidence, rhs.confidence)
            && same(lhs.tCritical, rhs.tCritical) && same(lhs.lower, rhs.lower)
            && same(lhs.upper, rhs.upper)
    }
}

/// A confidence level as a percentage for labels: 0.95 → "95", 0.999 → "99.9" (never rounded
/// up to "100").
public func percentText(_ confidence: Double) -> String {
    String(format: "%g", (confidence * 100 * 1e6).rounded() / 1e6)
}
