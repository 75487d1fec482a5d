import Foundation

/// Result of Dietterich's 5×2cv paired t-test.
public struct FiveByTwoResult: Sendable {
    /// t = p₁⁽¹⁾ / √((1/5)·Σᵢ sᵢ²). ±∞ when every sᵢ² is 0 but p₁⁽¹⁾ ≠ 0; NaN when both are 0.
    public let t: Double
    /// Two-sided p-value from Student's t with 5 degrees of freedom. When every sᵢ² is 0 the t
    /// distribution says nothing; then p = 0 if p₁⁽¹⁾ ≠ 0 (a perfectly consistent difference)
    /// and p = 1 if p₁⁽¹⁾ = 0 (no difference at all).
    public let pValue: Double
    /// Always 5.
    public let degreesOfFreedom: Int
    /// sᵢ² = (pᵢ⁽¹⁾ − p̄ᵢ)² + (pᵢ⁽²⁾ − p̄ᵢ)² for the five replications.
    public let variances: [Double]
}

/// Dietterich's (1998) 5×2cv paired t-test: five replications of 2-fold cross-validation.
public enum FiveByTwoCV {
    /// `differences[i][j]` = error(A) − error(B) on fold j of replication i; exactly 5 rows of 2.
    /// Only the first fold of the first replication enters the numerator, as in Dietterich:
    /// that keeps numerator and denominator (approximately) independent.
    public static func test(differences: [[Double]]) -> FiveByTwoResult {
        precondition(differences.count == 5 && differences.allSatisfy { $0.count == 2 },
                     "5×2cv needs 5 replications of 2 folds")
        let variances = differences.map { row -> Double in
            let mean = (row[0] + row[1]) / 2
            return (row[0] - mean) * (row[0] - mean) + (row[1] - mean) * (row[1] - mean)
        }
        let numerator = differences[0][0]
        let denominator = (variances.reduce(0, +) / 5).squareRoot()
        let t: Double
        let pValue: Double
        if denominator == 0 {
            t = numerator == 0 ? .nan : (numerator > 0 ? .infinity : -.infinity)
            pValue = numerator == 0 ? 1 : 0
        } else {
            t = numerator / denominator
            pValue = StudentT.twoSidedPValue(t, degreesOfFreedom: 5)
        }
        return FiveByTwoResult(t: t, pValue: pValue, degreesOfFreedom: 5, variances: variances)
    }
}
