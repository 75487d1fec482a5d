import Foundation
import Testing
import FashionStats

/// |actual − expected| ≤ tolerance·|expected| (absolute when expected is 0).
private func close(_ actual: Double, _ expected: Double, _ tolerance: Double) -> Bool {
    expected == 0 ? abs(actual) <= tolerance : abs(actual - expected) <= tolerance * abs(expected)
}

@Suite("Stats: Student t, normal, χ², binomial against scipy")
struct StatsDistributionTests {
    @Test("t quantiles from the spec, df = ∞ and huge df")
    func headlineTQuantiles() {
        // scipy.stats.t.ppf(0.975, df) for df = 1, 4, 29; scipy.stats.norm.ppf(0.975).
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 1), 12.706204736174694, 1e-12))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 4), 2.7764451051977934, 1e-12))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 29), 2.045229642132703, 1e-12))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: .infinity), 1.959963984540054, 1e-14))
        // Huge but finite df: t → z. The gap is ≈ (z³ + z)/(4ν), 2.4e-12 at ν = 1e12.
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 1e12), 1.959963984540054, 1e-11))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 1e300), 1.959963984540054, 1e-14))
        #expect(StudentT.quantile(0.975, degreesOfFreedom: 1e6) > 1.959963984540054)
        #expect(StudentT.quantile(0.975, degreesOfFreedom: 1e6) < StudentT.quantile(0.975, degreesOfFreedom: 1e5))
    }

    /// scipy.stats.t.ppf(p, df), scipy 1.17.1, printed with repr.
    static let quantileTable: [(p: Double, values: [Double])] = [
        (0.9, [3.0776835371752544, 1.8856180831641272, 1.637744353696209, 1.4758840488244815,
               1.372183641110336, 1.3104150253913955, 1.290074761346516]),
        (0.95, [6.313751514675037, 2.9199855803537242, 2.3533634348018233, 2.0150483733330233,
                1.8124611228116756, 1.697260886593957, 1.6602343260853392]),
        (0.99, [31.820515953773935, 6.9645567342832715, 4.540702858568132, 3.3649299989072174,
                2.7637694581126957, 2.457261542400591, 2.3642173662384813]),
        (0.995, [63.656741162871526, 9.924843200918287, 5.840909309733355, 4.032142983555228,
                 3.16927267261695, 2.7499956535672254, 2.6258905214380173]),
    ]
    static let quantileTableDF: [Double] = [1, 2, 3, 5, 10, 30, 100]

    @Test("t quantile table vs scipy.stats.t.ppf, and its mirror image")
    func quantileTable() {
        for (p, values) in Self.quantileTable {
            for (df, expected) in zip(Self.quantileTableDF, values) {
                let q = StudentT.quantile(p, degreesOfFreedom: df)
                #expect(close(q, expected, 1e-12), "t.ppf(\(p), \(df)) = \(q), scipy \(expected)")
                // Symmetry: Q(1 − p) = −Q(p); 1 − p is exact here.
                #expect(close(StudentT.quantile(1 - p, degreesOfFreedom: df), -expected, 1e-12))
            }
        }
    }

    @Test("t cdf ∘ quantile and quantile ∘ cdf round trips")
    func tRoundTrip() {
        let probabilities = [1e-12, 1e-6, 0.001, 0.025, 0.2, 0.4999, 0.5, 0.6, 0.9, 0.975, 0.999]
        for df in [0.5, 1, 2, 3.5, 4, 9, 29, 120, 1e4, 1e8] {
            for p in probabilities {
                let q = StudentT.quantile(p, degreesOfFreedom: df)
                let back = StudentT.cdf(q, degreesOfFreedom: df)
                // Relative in the lower tail, where cdf has full precision; above ½ the cdf is
                // 1 − tail and only absolute precision is meaningful.
                let ok = p <= 0.5 ? close(back, p, 1e-12) : abs(back - p) <= 1e-15
                #expect(ok, "cdf(quantile(\(p), \(df))) = \(back)")
            }
            // Positive t only where the cdf is not close to 1: there its rounding (ε absolute)
            // would dominate the way back (at t = 7, ν = 1e8 the tail is 1e-12).
            for t in [-30.0, -7, -3, -1, -0.01, 0.3, 2] {
                let back = StudentT.quantile(StudentT.cdf(t, degreesOfFreedom: df), degreesOfFreedom: df)
                #expect(close(back, t, 1e-12), "quantile(cdf(\(t), \(df))) = \(back)")
            }
        }
    }

    @Test("t cdf and two-sided p spot values vs scipy.stats.t")
    func tCDFSpotValues() {
        // scipy.stats.t.cdf(x, df)
        #expect(close(StudentT.cdf(-2, degreesOfFreedom: 3), 0.06966298427942152, 1e-13))
        #expect(close(StudentT.cdf(1.5, degreesOfFreedom: 10), 0.9177463367772799, 1e-13))
        #expect(close(StudentT.cdf(-40, degreesOfFreedom: 30), 6.863022597203209e-28, 1e-12))
        #expect(close(StudentT.cdf(2, degreesOfFreedom: 1e6), 0.9772497330743404, 1e-13))
        // 2·scipy.stats.t.sf(|t|, df)
        #expect(close(StudentT.twoSidedPValue(2.5, degreesOfFreedom: 7), 0.04099221858575289, 1e-13))
        #expect(close(StudentT.twoSidedPValue(-10, degreesOfFreedom: 30), 4.575251408229618e-11, 1e-12))
        #expect(StudentT.twoSidedPValue(0, degreesOfFreedom: 5) == 1)
        #expect(StudentT.cdf(0, degreesOfFreedom: 5) == 0.5)
        // df = 1 is the Cauchy distribution: F(t) = ½ + atan(t)/π, for t < 0 written as
        // atan(−1/t)/π, which avoids the cancellation in ½ − 0.4968….
        for t in [-100.0, -1, 0.25, 3] {
            let expected = t < 0 ? atan(-1 / t) / Double.pi : 0.5 + atan(t) / Double.pi
            #expect(close(StudentT.cdf(t, degreesOfFreedom: 1), expected, 1e-14))
        }
        // df = 2 has Q(p) = (2p − 1)/√(2p(1 − p)).
        for p in [0.01, 0.3, 0.75, 0.999] {
            let expected = (2 * p - 1) / (2 * p * (1 - p)).squareRoot()
            #expect(close(StudentT.quantile(p, degreesOfFreedom: 2), expected, 1e-13))
        }
    }

    @Test("edge cases: p at 0, ½, 1; invalid df; infinite t")
    func tEdgeCases() {
        #expect(StudentT.quantile(0, degreesOfFreedom: 3) == -.infinity)
        #expect(StudentT.quantile(1, degreesOfFreedom: 3) == .infinity)
        #expect(StudentT.quantile(0.5, degreesOfFreedom: 3) == 0)
        #expect(StudentT.quantile(1.5, degreesOfFreedom: 3).isNaN)
        #expect(StudentT.quantile(0.9, degreesOfFreedom: 0).isNaN)
        #expect(StudentT.cdf(1, degreesOfFreedom: -1).isNaN)
        #expect(StudentT.cdf(-.infinity, degreesOfFreedom: 3) == 0)
        #expect(StudentT.cdf(.infinity, degreesOfFreedom: 3) == 1)
        #expect(StudentT.twoSidedPValue(.infinity, degreesOfFreedom: 3) == 0)
    }

    @Test("normal quantile vs scipy.stats.norm.ppf, and cdf round trip")
    func normal() {
        // scipy.stats.norm.ppf(p)
        let table: [(Double, Double)] = [
            (0.5, 0), (0.9, 1.2815515655446004), (0.975, 1.959963984540054),
            (0.999, 3.090232306167813), (1e-10, -6.361340902404056), (0.025, -1.9599639845400545),
        ]
        for (p, expected) in table {
            #expect(close(NormalDistribution.quantile(p), expected, 1e-14), "norm.ppf(\(p))")
        }
        for p in [1e-300, 1e-50, 1e-5, 0.01, 0.3, 0.5] {
            #expect(close(NormalDistribution.cdf(NormalDistribution.quantile(p)), p, 1e-13))
        }
        #expect(NormalDistribution.quantile(0) == -.infinity)
        #expect(NormalDistribution.quantile(1) == .infinity)
        #expect(NormalDistribution.quantile(-0.1).isNaN)
    }

    @Test("χ² survival vs scipy.stats.chi2.sf")
    func chiSquared() {
        let table: [(x: Double, df: Double, expected: Double)] = [
            (0.5, 1, 0.47950012218695337),
            (3.841458820694124, 1, 0.04999999999999989),
            (7.84, 1, 0.005110260660855866),
            (100, 1, 1.5239706048320995e-23),
            (10, 3, 0.01856613546304325),
            (2, 7, 0.9598403687301016),
            (50, 30, 0.01240206071890054),
            (250, 200, 0.009379131668826098),
        ]
        for (x, df, expected) in table {
            let value = ChiSquared.survival(x, degreesOfFreedom: df)
            #expect(close(value, expected, 1e-13), "chi2.sf(\(x), \(df)) = \(value)")
        }
        #expect(ChiSquared.survival(0, degreesOfFreedom: 1) == 1)
        #expect(ChiSquared.survival(-3, degreesOfFreedom: 4) == 1)
        #expect(ChiSquared.survival(.infinity, degreesOfFreedom: 4) == 0)
    }

    @Test("exact binomial p vs scipy.stats.binomtest(k, n).pvalue")
    func binomial() {
        let table: [(k: Int, n: Int, expected: Double)] = [
            (0, 5, 0.0625),                  // 2·(1/32)
            (1, 10, 0.021484375),            // 2·(1 + 10)/1024
            (2, 9, 0.1796875),               // 2·(1 + 9 + 36)/512
            (3, 20, 0.0025768280029296875),
            (6, 24, 0.022655844688415527),
            (18, 24, 0.022655844688415527),  // symmetric in k ↔ n − k
            (5, 25, 0.004077315330505371),
            (12, 24, 1.0),
            (7, 14, 1.0),
            (40, 100, 0.05688793364098089),  // n > 60: saddle-point path
            (450, 1000, 0.0017305360849763027),
        ]
        for (k, n, expected) in table {
            let value = BinomialTest.twoSidedHalf(k: k, n: n)
            #expect(close(value, expected, 1e-13), "binomtest(\(k), \(n)) = \(value)")
        }
        // Small n is summed in integers: bit-exact.
        #expect(BinomialTest.twoSidedHalf(k: 1, n: 10) == 0.021484375)
        #expect(BinomialTest.twoSidedHalf(k: 0, n: 0) == 1)
    }
}
