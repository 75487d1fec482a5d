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
/// F1 = 2PR/(P + R), 0 when P + R = 0; support = row sum.
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
            let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
            classes.append(ClassMetrics(name: classNames[c], precision: precision, recall: recall,
                                        f1: f1, support: support))
        }

        func mean(_ metric: (ClassMetrics) -> Double) -> Double {
            k == 0 ? 0 : classes.reduce(0) { $0 + metric($1) } / Double(k)
        }
        func weightedMean(_ metric: (ClassMetrics) -> Double) -> Double {
            total == 0 ? 0 : classes.reduce(0) { $0 + Double($1.support) * metric($1) } / Double(total)
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
