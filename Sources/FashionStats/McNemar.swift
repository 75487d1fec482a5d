import Foundation

/// McNemar's test of two classifiers evaluated on the same test examples (Dietterich 1998),
/// with Edwards' continuity correction for the χ² version.
public struct McNemarResult: Sendable {
    /// Number of test examples.
    public let n: Int
    /// a: both classifiers right.
    public let bothCorrect: Int
    /// b: A right, B wrong.
    public let onlyACorrect: Int
    /// c: A wrong, B right.
    public let onlyBCorrect: Int
    /// d: both wrong.
    public let bothWrong: Int
    /// "exact binomial" when b + c < exactBelow, else "chi-squared with continuity correction".
    public let method: String
    /// (|b − c| − 1)²/(b + c) for the χ² method (0 if b + c = 0); nil for the exact method.
    public let statistic: Double?
    /// Two-sided p-value; 1 when b + c = 0 (the classifiers never disagree).
    public let pValue: Double
    public let accuracyA: Double
    public let accuracyB: Double
    /// accuracyA − accuracyB = (b − c)/n.
    public let difference: Double
    /// The confidence level of [differenceLower, differenceUpper].
    public let confidence: Double
    /// Wald interval for the difference of paired proportions:
    /// d ± z·√((b + c) − (b − c)²/n)/n with z the normal quantile at 1 − α/2.
    public let differenceLower: Double
    public let differenceUpper: Double
}

public enum McNemar {
    public static let exactMethod = "exact binomial"
    public static let chiSquaredMethod = "chi-squared with continuity correction"

    /// Compares classifiers A and B on the same examples. Only the discordant pairs matter:
    /// under H₀ (equal error rates) each of the b + c disagreements is equally likely to favour
    /// A or B, so b ~ Binomial(b + c, ½). For b + c < exactBelow that binomial gives the exact
    /// p-value; above it the continuity-corrected χ²₁ approximation is used, as in Dietterich.
    /// The arrays must be non-empty and of equal length.
    public static func test(truth: [Int], predictionsA: [Int], predictionsB: [Int],
                            confidence: Double = 0.95, exactBelow: Int = 25) -> McNemarResult {
        precondition(!truth.isEmpty, "McNemar needs at least one example")
        precondition(truth.count == predictionsA.count && truth.count == predictionsB.count,
                     "truth and both prediction arrays must have the same length")
        precondition(confidence > 0 && confidence < 1, "confidence must be in (0, 1)")
        var both = 0, onlyA = 0, onlyB = 0, neither = 0
        for i in truth.indices {
            switch (predictionsA[i] == truth[i], predictionsB[i] == truth[i]) {
            case (true, true): both += 1
            case (true, false): onlyA += 1
            case (false, true): onlyB += 1
            case (false, false): neither += 1
            }
        }
        let n = truth.count
        let discordant = onlyA + onlyB
        let method: String
        let statistic: Double?
        let pValue: Double
        if discordant < exactBelow {
            method = exactMethod
            statistic = nil
            pValue = BinomialTest.twoSidedHalf(k: onlyA, n: discordant)   // 1 when discordant = 0
        } else {
            method = chiSquaredMethod
            if discordant == 0 {
                // Only reachable with exactBelow ≤ 0: the formula would be 1/0; no disagreement
                // is no evidence at all.
                statistic = 0
                pValue = 1
            } else {
                let excess = Double(abs(onlyA - onlyB)) - 1
                let chi2 = excess * excess / Double(discordant)
                statistic = chi2
                pValue = ChiSquared.survival(chi2, degreesOfFreedom: 1)
            }
        }
        let nn = Double(n)
        let difference = Double(onlyA - onlyB) / nn
        // Var(d)·n² = (b + c) − (b − c)²/n, which is ≥ 0 because |b − c| ≤ b + c ≤ n; max(0, ·)
        // only guards against rounding.
        let spread = Swift.max(0, Double(discordant) - Double((onlyA - onlyB) * (onlyA - onlyB)) / nn)
        let z = NormalDistribution.quantile(1 - (1 - confidence) / 2)
        let halfWidth = z * spread.squareRoot() / nn
        return McNemarResult(n: n, bothCorrect: both, onlyACorrect: onlyA, onlyBCorrect: onlyB,
                             bothWrong: neither, method: method, statistic: statistic,
                             pValue: pValue,
                             accuracyA: Double(both + onlyA) / nn,
                             accuracyB: Double(both + onlyB) / nn,
                             difference: difference, confidence: confidence,
                             differenceLower: difference - halfWidth,
                             differenceUpper: difference + halfWidth)
    }
}
