import Foundation
import Testing
import FashionStats

private func close(_ actual: Double, _ expected: Double, _ tolerance: Double) -> Bool {
    expected == 0 ? abs(actual) <= tolerance : abs(actual - expected) <= tolerance * abs(expected)
}

/// Builds truth/prediction arrays with a given 2×2 agreement table: `both` examples both
/// classifiers get right, `onlyA` only A, `onlyB` only B, `neither` none. Labels cycle through
/// 0..<3 and a wrong prediction is label + 1 (mod 3), so several classes are exercised.
private func pairedPredictions(both: Int, onlyA: Int, onlyB: Int, neither: Int)
    -> (truth: [Int], a: [Int], b: [Int]) {
    var truth: [Int] = [], a: [Int] = [], b: [Int] = []
    let kinds = [(both, true, true), (onlyA, true, false), (onlyB, false, true), (neither, false, false)]
    for (count, aRight, bRight) in kinds {
        for _ in 0..<count {
            let label = truth.count % 3
            truth.append(label)
            a.append(aRight ? label : (label + 1) % 3)
            b.append(bRight ? label : (label + 2) % 3)
        }
    }
    return (truth, a, b)
}

@Suite("Stats: McNemar, 5×2cv and Summary against hand computations")
struct StatsComparisonTests {
    /// z = Φ⁻¹(0.975) = 1.959963984540054 (scipy.stats.norm.ppf).
    static let z = 1.959963984540054

    @Test("McNemar exact: b = 7, c = 2 of n = 20")
    func mcNemarExact() {
        let data = pairedPredictions(both: 10, onlyA: 7, onlyB: 2, neither: 1)
        let r = McNemar.test(truth: data.truth, predictionsA: data.a, predictionsB: data.b)
        #expect(r.n == 20 && r.onlyACorrect == 7 && r.onlyBCorrect == 2)
        #expect(r.bothCorrect == 10 && r.bothWrong == 1)
        #expect(r.method == "exact binomial")
        #expect(r.statistic == nil)
        // b + c = 9 < 25: p = 2·P(X ≤ 2 | 9, ½) = 2·(1 + 9 + 36)/512 = 92/512 = 0.1796875.
        #expect(r.pValue == 0.1796875)
        // accuracies (10 + 7)/20 and (10 + 2)/20; d = (7 − 2)/20.
        #expect(close(r.accuracyA, 0.85, 1e-15) && close(r.accuracyB, 0.6, 1e-15))
        #expect(close(r.difference, 0.25, 1e-15))
        // √(9 − 25/20) = √7.75 = 2.7838821814150108; ×z/20 = 0.27281544063881114.
        #expect(close(r.differenceLower, 0.25 - 0.27281544063881114, 1e-12))
        #expect(close(r.differenceUpper, 0.25 + 0.27281544063881114, 1e-12))
    }

    @Test("McNemar χ² with continuity correction: b = 20, c = 5 of n = 100")
    func mcNemarChiSquared() {
        let data = pairedPredictions(both: 70, onlyA: 20, onlyB: 5, neither: 5)
        let r = McNemar.test(truth: data.truth, predictionsA: data.a, predictionsB: data.b)
        #expect(r.method == "chi-squared with continuity correction")
        // (|20 − 5| − 1)²/25 = 196/25 = 7.84; scipy.stats.chi2.sf(7.84, 1) = 0.005110260660855866.
        #expect(close(r.statistic ?? .nan, 7.84, 1e-15))
        #expect(close(r.pValue, 0.005110260660855866, 1e-12))
        #expect(close(r.accuracyA, 0.9, 1e-15) && close(r.accuracyB, 0.75, 1e-15))
        // d = 15/100; √(25 − 225/100) = √22.75 = 4.769696007084728; ×z/100 = 0.09348432391090569.
        #expect(close(r.difference, 0.15, 1e-15))
        #expect(close(r.differenceLower, 0.15 - 0.09348432391090569, 1e-12))
        #expect(close(r.differenceUpper, 0.15 + 0.09348432391090569, 1e-12))
        // 90% interval: z = Φ⁻¹(0.95) = 1.6448536269514722, half width 4.769696007084728·z/100.
        let r90 = McNemar.test(truth: data.truth, predictionsA: data.a, predictionsB: data.b,
                               confidence: 0.90)
        #expect(close(r90.differenceUpper - r90.difference, 0.04769696007084728 * 1.6448536269514722, 1e-12))
    }

    @Test("McNemar switches method at b + c = 25")
    func mcNemarSwitch() {
        // b + c = 24 → exact: 2·P(X ≤ 6 | 24, ½) = scipy.stats.binomtest(18, 24).pvalue.
        let below = pairedPredictions(both: 30, onlyA: 18, onlyB: 6, neither: 6)
        let rBelow = McNemar.test(truth: below.truth, predictionsA: below.a, predictionsB: below.b)
        #expect(rBelow.method == "exact binomial")
        #expect(close(rBelow.pValue, 0.022655844688415527, 1e-13))
        // b + c = 25 → χ²: (|20 − 5| − 1)²/25 = 7.84 as above.
        let at = pairedPredictions(both: 30, onlyA: 20, onlyB: 5, neither: 6)
        let rAt = McNemar.test(truth: at.truth, predictionsA: at.a, predictionsB: at.b)
        #expect(rAt.method == "chi-squared with continuity correction")
        #expect(close(rAt.pValue, 0.005110260660855866, 1e-12))
        // Raising the threshold makes the same data exact: binomtest(5, 25) = 0.004077315330505371.
        let rExact = McNemar.test(truth: at.truth, predictionsA: at.a, predictionsB: at.b, exactBelow: 26)
        #expect(rExact.method == "exact binomial")
        #expect(rExact.statistic == nil)
        #expect(close(rExact.pValue, 0.004077315330505371, 1e-13))
        // Equal b and c under χ²: (|15 − 15| − 1)²/30 = 1/30; chi2.sf(1/30, 1) = 0.8551321405847059.
        let tie = pairedPredictions(both: 10, onlyA: 15, onlyB: 15, neither: 0)
        let rTie = McNemar.test(truth: tie.truth, predictionsA: tie.a, predictionsB: tie.b)
        #expect(close(rTie.statistic ?? .nan, 1.0 / 30, 1e-15))
        #expect(close(rTie.pValue, 0.8551321405847059, 1e-12))
    }

    @Test("McNemar with no disagreements: b + c = 0")
    func mcNemarNoDisagreement() {
        let data = pairedPredictions(both: 8, onlyA: 0, onlyB: 0, neither: 4)
        let r = McNemar.test(truth: data.truth, predictionsA: data.a, predictionsB: data.b)
        #expect(r.method == "exact binomial")
        #expect(r.pValue == 1)
        #expect(r.difference == 0 && r.differenceLower == 0 && r.differenceUpper == 0)
        #expect(close(r.accuracyA, 8.0 / 12, 1e-15) && r.accuracyA == r.accuracyB)
        // Forced onto the χ² branch the result is still "no evidence".
        let forced = McNemar.test(truth: data.truth, predictionsA: data.a, predictionsB: data.b, exactBelow: 0)
        #expect(forced.method == "chi-squared with continuity correction")
        #expect(forced.pValue == 1)
    }

    @Test("5×2cv paired t-test on a fixed table")
    func fiveByTwo() {
        let differences: [[Double]] = [
            [0.012, 0.020], [0.008, 0.015], [0.011, 0.004], [0.017, 0.009], [0.006, 0.013],
        ]
        let r = FiveByTwoCV.test(differences: differences)
        // Each row: s² = 2·(half the fold gap)²: gaps 0.008, 0.007, 0.007, 0.008, 0.007 give
        // s² = 0.008²/2 = 3.2e-5 or 0.007²/2 = 2.45e-5. Σ = 1.375e-4, /5 = 2.75e-5,
        // √ = 0.0052440442408507575, t = 0.012/that = 2.288310214189422;
        // p = 2·scipy.stats.t.sf(2.288310214189422, 5) = 0.07079869571023031.
        let expectedVariances = [3.2e-5, 2.45e-5, 2.45e-5, 3.2e-5, 2.45e-5]
        for (v, e) in zip(r.variances, expectedVariances) { #expect(close(v, e, 1e-12)) }
        #expect(r.degreesOfFreedom == 5)
        #expect(close(r.t, 2.288310214189422, 1e-12))
        #expect(close(r.pValue, 0.07079869571023031, 1e-12))
        // Sign follows p₁⁽¹⁾.
        let flipped = FiveByTwoCV.test(differences: differences.map { $0.map { -$0 } })
        #expect(close(flipped.t, -2.288310214189422, 1e-12))
        #expect(close(flipped.pValue, 0.07079869571023031, 1e-12))
    }

    @Test("5×2cv with all variances zero")
    func fiveByTwoDegenerate() {
        let constant = FiveByTwoCV.test(differences: Array(repeating: [0.01, 0.01], count: 5))
        #expect(constant.t == .infinity && constant.pValue == 0)
        let negative = FiveByTwoCV.test(differences: Array(repeating: [-0.01, -0.01], count: 5))
        #expect(negative.t == -.infinity && negative.pValue == 0)
        let zero = FiveByTwoCV.test(differences: Array(repeating: [0, 0], count: 5))
        #expect(zero.t.isNaN && zero.pValue == 1)
    }

    @Test("Summary of five accuracies vs hand computation")
    func summaryFive() {
        let s = Summary.of([0.912, 0.905, 0.918, 0.909, 0.921])
        // mean = 4.565/5 = 0.913; deviations −0.001, −0.008, 0.005, −0.004, 0.008;
        // Σd² = (1 + 64 + 25 + 16 + 64)·1e-6 = 1.7e-4; s² = 1.7e-4/4 = 4.25e-5;
        // s = √4.25e-5 = 0.006519202405202649; se = s/√5 = √8.5e-6 = 0.0029154759474226504;
        // t(0.975, 4) = 2.7764451051977934 (scipy); half width = 0.008094658923543517;
        // interval (numpy/scipy): [0.9049053410764565, 0.9210946589235436].
        #expect(s.count == 5)
        #expect(close(s.mean, 0.913, 1e-14))
        #expect(close(s.standardDeviation, 0.006519202405202649, 1e-12))
        #expect(close(s.standardError, 0.0029154759474226504, 1e-12))
        #expect(s.confidence == 0.95)
        #expect(close(s.tCritical, 2.7764451051977934, 1e-12))
        #expect(close(s.lower, 0.9049053410764565, 1e-13))
        #expect(close(s.upper, 0.9210946589235436, 1e-13))
        #expect(close(s.upper - s.mean, 2.7764451051977934 * 0.0029154759474226504, 1e-10))
        #expect(s == Summary.of([0.912, 0.905, 0.918, 0.909, 0.921]))
    }

    @Test("Summary of a single value")
    func summaryOne() {
        let s = Summary.of([0.87])
        #expect(s.count == 1 && s.mean == 0.87)
        #expect(s.standardDeviation == 0 && s.standardError == 0)
        #expect(s.tCritical.isNaN)
        #expect(s.lower == 0.87 && s.upper == 0.87)
        #expect(s == Summary.of([0.87]))   // NaN tCritical still compares equal
        #expect(s != Summary.of([0.88]))
    }
}
