import Foundation

/// The classification files of a run, as CSV text (write them with `ResultFiles.write`).
/// Numbers keep full precision; every file opens unchanged in `pandas.read_csv`.
public enum RunFiles {
    /// `predictions.csv`: one row per test example,
    /// `index,true_label,true_name,predicted_label,predicted_name,top_probability`, and with
    /// `includeProbabilities` one more column `p_<k>` per class. The prediction is the first
    /// largest probability (numpy's `argmax`). `probabilities[i]` holds the class scores of
    /// example `i`; labels outside `classNames` get their number as name.
    public static func predictionsCSV(labels: [Int], probabilities: [[Float]], classNames: [String],
                                      includeProbabilities: Bool = false) -> String {
        predictions(labels: labels, probabilities: probabilities, classNames: classNames,
                    includeProbabilities: includeProbabilities, format: { ResultFiles.number(float: $0) })
    }

    /// `predictions.csv` from float64 probabilities.
    public static func predictionsCSV(labels: [Int], probabilities: [[Double]], classNames: [String],
                                      includeProbabilities: Bool = false) -> String {
        predictions(labels: labels, probabilities: probabilities, classNames: classNames,
                    includeProbabilities: includeProbabilities, format: { ResultFiles.number($0) })
    }

    /// `predictions.csv` from the model's flat output: `classCount` scores per example, row after row.
    public static func predictionsCSV(labels: [Int], flatProbabilities: [Float], classCount: Int, classNames: [String],
                                      includeProbabilities: Bool = false) -> String {
        precondition(classCount > 0 && flatProbabilities.count == labels.count * classCount,
                     "predictionsCSV: \(flatProbabilities.count) scores for \(labels.count) labels × \(classCount) classes")
        let rows = (0..<labels.count).map { Array(flatProbabilities[($0 * classCount)..<(($0 + 1) * classCount)]) }
        return predictionsCSV(labels: labels, probabilities: rows, classNames: classNames, includeProbabilities: includeProbabilities)
    }

    /// The index of the first largest value (numpy's `argmax`; NaNs never win), -1 if empty.
    public static func argmax<T: BinaryFloatingPoint>(_ values: [T]) -> Int {
        var best = -1
        for (i, v) in values.enumerated() where !v.isNaN && (best < 0 || v > values[best]) { best = i }
        return best
    }

    /// Counts `matrix[true][predicted]` over `classCount` classes.
    public static func confusionMatrix(labels: [Int], predictions: [Int], classCount: Int) -> [[Int]] {
        precondition(labels.count == predictions.count, "confusionMatrix: \(labels.count) labels but \(predictions.count) predictions")
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: classCount), count: classCount)
        for (t, p) in zip(labels, predictions) {
            precondition((0..<classCount).contains(t) && (0..<classCount).contains(p),
                         "confusionMatrix: label \(t) or prediction \(p) outside 0..<\(classCount)")
            matrix[t][p] += 1
        }
        return matrix
    }

    /// `confusion_matrix.csv`: header `true\predicted,<class names…>`, then one row per true
    /// class, its name first, then the counts per predicted class.
    public static func confusionMatrixCSV(_ matrix: [[Int]], classNames: [String]) -> String {
        let names = namesFor(matrix, classNames)
        return ResultFiles.csv(header: ["true\\predicted"] + names,
                               rows: matrix.enumerated().map { [names[$0.offset]] + $0.element.map(String.init) })
    }

    /// `confusion_matrix_normalized.csv`: as `confusionMatrixCSV`, each row divided by its total
    /// (the fraction of that true class predicted as each class); a row with no examples is all 0.
    public static func normalizedConfusionMatrixCSV(_ matrix: [[Int]], classNames: [String]) -> String {
        let names = namesFor(matrix, classNames)
        let rows = matrix.enumerated().map { i, row -> [String] in
            let total = row.reduce(0, +)
            return [names[i]] + row.map { ResultFiles.number(total == 0 ? 0 : Double($0) / Double(total)) }
        }
        return ResultFiles.csv(header: ["true\\predicted"] + names, rows: rows)
    }

    /// `per_class.csv`, scikit-learn's `classification_report` as a table:
    /// `class,precision,recall,f1,support`, one row per class, then `accuracy` (precision and
    /// recall empty, f1 = accuracy, support = total, as the report prints it), `macro avg` and
    /// `weighted avg` (weighted by support). Definitions are sklearn's with `zero_division=0`
    /// and `labels=` every class, so classes absent from the test set count in the macro average.
    public static func perClassCSV(_ matrix: [[Int]], classNames: [String]) -> String {
        let names = namesFor(matrix, classNames)
        let r = ClassificationMetrics(matrix)
        let number = { (v: Double) in ResultFiles.number(v) }
        var rows = names.indices.map { k in
            [names[k], number(r.precision[k]), number(r.recall[k]), number(r.f1[k]), String(r.support[k])]
        }
        rows.append(["accuracy", "", "", number(r.accuracy), String(r.total)])
        rows.append(["macro avg", number(r.macro.precision), number(r.macro.recall), number(r.macro.f1), String(r.total)])
        rows.append(["weighted avg", number(r.weighted.precision), number(r.weighted.recall), number(r.weighted.f1), String(r.total)])
        return ResultFiles.csv(header: ["class", "precision", "recall", "f1", "support"], rows: rows)
    }

    // MARK: - Internals

    private static func predictions<T: BinaryFloatingPoint>(labels: [Int], probabilities: [[T]], classNames: [String],
                                                          includeProbabilities: Bool, format: (T) -> String) -> String {
        precondition(labels.count == probabilities.count,
                     "predictionsCSV: \(labels.count) labels but \(probabilities.count) probability rows")
        let name = { (k: Int) in classNames.indices.contains(k) ? classNames[k] : String(k) }
        let classCount = includeProbabilities ? (probabilities.map(\.count).max() ?? classNames.count) : 0
        let header = ["index", "true_label", "true_name", "predicted_label", "predicted_name", "top_probability"]
            + (0..<classCount).map { "p_\($0)" }
        let rows = zip(labels, probabilities).enumerated().map { i, pair -> [String] in
            let (label, p) = pair
            let predicted = argmax(p)
            var row = [String(i), String(label), name(label), String(predicted),
                       predicted >= 0 ? name(predicted) : "", predicted >= 0 ? format(p[predicted]) : ""]
            if includeProbabilities { row += (0..<classCount).map { $0 < p.count ? format(p[$0]) : "" } }
            return row
        }
        return ResultFiles.csv(header: header, rows: rows)
    }

    /// One name per matrix row: the given names, numbers where they run out.
    private static func namesFor(_ matrix: [[Int]], _ classNames: [String]) -> [String] {
        precondition(matrix.allSatisfy { $0.count == matrix.count }, "confusion matrix must be square")
        return matrix.indices.map { classNames.indices.contains($0) ? classNames[$0] : String($0) }
    }
}

/// Precision, recall and F1 per class from a confusion matrix (`matrix[true][predicted]`), with
/// scikit-learn's definitions and `zero_division=0`. Kept here, self-contained, until the
/// statistics module offers the same.
///
/// Bit-for-bit agreement with sklearn: F1 is `2·tp / (support + predicted)` as sklearn ≥ 1.3
/// computes it (not `2pr/(p+r)`, which can differ in the last bit), and the averages sum
/// the way numpy does (`pairwiseSum`).
struct ClassificationMetrics {
    var precision: [Double] = []
    var recall: [Double] = []
    var f1: [Double] = []
    var support: [Int] = []
    var total = 0
    var accuracy = 0.0
    var macro = (precision: 0.0, recall: 0.0, f1: 0.0)
    var weighted = (precision: 0.0, recall: 0.0, f1: 0.0)

    init(_ matrix: [[Int]]) {
        let n = matrix.count
        let correct = (0..<n).reduce(0) { $0 + matrix[$1][$1] }
        support = matrix.map { $0.reduce(0, +) }
        let predicted = (0..<n).map { j in matrix.reduce(0) { $0 + $1[j] } }
        total = support.reduce(0, +)
        func divide(_ a: Double, _ b: Double) -> Double { b == 0 ? 0 : a / b }   // zero_division=0
        for k in 0..<n {
            let tp = Double(matrix[k][k])
            precision.append(divide(tp, Double(predicted[k])))
            recall.append(divide(tp, Double(support[k])))
            f1.append(divide(2 * tp, Double(support[k] + predicted[k])))
        }
        accuracy = divide(Double(correct), Double(total))
        // np.mean: pairwise sum / count; np.average(weights=): pairwise sum of products / pairwise sum of weights.
        let mean = { (v: [Double]) in n == 0 ? 0 : Self.pairwiseSum(v) / Double(n) }
        let weights = support.map(Double.init)
        let weightSum = Self.pairwiseSum(weights)
        let average = { (v: [Double]) in divide(Self.pairwiseSum(zip(v, weights).map { $0 * $1 }), weightSum) }
        macro = (mean(precision), mean(recall), mean(f1))
        weighted = (average(precision), average(recall), average(f1))
    }

    /// numpy's float64 `add.reduce` on a contiguous array (numpy/core/src/umath/loops_utils.h
    /// `pairwise_sum`): under 8 values a plain loop; up to 128, eight interleaved partial sums
    /// combined as a tree, then the tail; beyond, split in two halves (a multiple of 8).
    static func pairwiseSum(_ a: [Double]) -> Double { pairwiseSum(a[...]) }

    private static func pairwiseSum(_ a: ArraySlice<Double>) -> Double {
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
}
