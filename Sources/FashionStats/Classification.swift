import Foundation

public enum Confusion {
    /// counts[true][predicted]. Labels must lie in 0..<classes.
    public static func matrix(truth: [Int], predicted: [Int], classes: Int) -> [[Int]] {
        precondition(truth.count == predicted.count, "truth and predictions differ in length")
        precondition(classes > 0, "need at least one class")
        var counts = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (label, guess) in zip(truth, predicted) {
            precondition((0..<classes).contains(label) && (0..<classes).contains(guess),
                         "label out of range 0..<\(classes)")
            counts[label][guess] += 1
        }
        return counts
    }

    /// Each row divided by its sum, i.e. P(predicted | true). A row with no examples stays 0
    /// (rather than 0/0 = NaN) so that it prints and plots cleanly.
    public static func rowNormalised(_ m: [[Int]]) -> [[Double]] {
        m.map { row in
            let total = row.reduce(0, +)
            return row.map { total == 0 ? 0 : Double($0) / Double(total) }
        }
    }
}

/// One line of a classification report.
public struct ClassMetrics: Sendable {
    public let name: String
    public let precision: Double
    public let recall: Double
    public let f1: Double
    /// Number of true examples of the class (for the averages: all examples).
    public let support: Int
}

/// scikit-learn's classification_report, with zero_division = 0:
/// precision = TP/(TP + FP), 0 when the class is never predicted;
/// recall = TP/(TP + FN), 0 when the class has no examples;
/// F1 = 2PR/(P + R), 0 when P + R = 0, computed as 2·TP/(support + predicted) the way
/// sklearn ≥ 1.3 does (2PR/(P+R) can differ in the last bit); support = row sum.
/// The averages add up as numpy does (`pairwiseSum`), so the numbers equal sklearn's bit for bit.
/// macro = unweighted mean over all classes (classes with no support included, as sklearn does
/// when they are listed in `labels`); weighted = support-weighted mean; accuracy = trace/total.
public struct ClassificationReport: Sendable {
    public let classes: [ClassMetrics]
    /// Named "macro avg", support = total.
    public let macro: ClassMetrics
    /// Named "weighted avg", support = total.
    public let weighted: ClassMetrics
    /// trace/total; 0 for an empty matrix.
    public let accuracy: Double
    public let total: Int

    /// `confusion[true][predicted]`, square, one name per class.
    public static func from(confusion: [[Int]], classNames: [String]) -> ClassificationReport {
        let k = confusion.count
        precondition(confusion.allSatisfy { $0.count == k }, "confusion matrix must be square")
        precondition(classNames.count == k, "need one name per class")
        let total = confusion.reduce(0) { $0 + $1.reduce(0, +) }

        var classes: [ClassMetrics] = []
        for c in 0..<k {
            let truePositives = confusion[c][c]
            let support = confusion[c].reduce(0, +)                  // TP + FN
            let predictedCount = confusion.reduce(0) { $0 + $1[c] }  // TP + FP
            let precision = predictedCount == 0 ? 0 : Double(truePositives) / Double(predictedCount)
            let recall = support == 0 ? 0 : Double(truePositives) / Double(support)
            let f1 = support + predictedCount == 0 ? 0 : 2 * Double(truePositives) / Double(support + predictedCount)
            classes.append(ClassMetrics(name: classNames[c], precision: precision, recall: recall,
                                        f1: f1, support: support))
        }

        // np.mean: pairwise sum / count; np.average(weights=): pairwise sum of products / sum of weights.
        func mean(_ metric: (ClassMetrics) -> Double) -> Double {
            k == 0 ? 0 : pairwiseSum(classes.map(metric)[...]) / Double(k)
        }
        let weights = classes.map { Double($0.support) }
        let weightSum = pairwiseSum(weights[...])
        func weightedMean(_ metric: (ClassMetrics) -> Double) -> Double {
            weightSum == 0 ? 0 : pairwiseSum(zip(classes.map(metric), weights).map { $0 * $1 }[...]) / weightSum
        }
        let macro = ClassMetrics(name: "macro avg", precision: mean(\.precision),
                                 recall: mean(\.recall), f1: mean(\.f1), support: total)
        let weighted = ClassMetrics(name: "weighted avg", precision: weightedMean(\.precision),
                                    recall: weightedMean(\.recall), f1: weightedMean(\.f1),
                                    support: total)
        let trace = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        let accuracy = total == 0 ? 0 : Double(trace) / Double(total)
        return ClassificationReport(classes: classes, macro: macro, weighted: weighted,
                                    accuracy: accuracy, total: total)
    }
}

/// numpy's float64 `add.reduce` on a contiguous array (numpy's `pairwise_sum`): under 8 values
/// a plain loop; up to 128, eight interleaved partial sums combined as a tree, then the tail;
/// beyond, split in two halves (a multiple of 8).
func pairwiseSum(_ a: ArraySlice<Double>) -> Double {
    let n = a.count, s = a.startIndex
    if n < 8 {
        var result = 0.0
        for v in a { result += v }
        return result
    } else if n <= 128 {
        var r = (0..<8).map { a[s + $0] }
        var i = 8
        while i < n - n % 8 {
            for j in 0..<8 { r[j] += a[s + i + j] }
            i += 8
        }
        var result = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n { result += a[s + i]; i += 1 }
        return result
    } else {
        var half = n / 2
        half -= half % 8
        return pairwiseSum(a[s..<(s + half)]) + pairwiseSum(a[(s + half)...])
    }
}
