import Foundation
import FashionStats

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
        let rows = Confusion.rowNormalised(matrix).enumerated().map { [names[$0.offset]] + $0.element.map(ResultFiles.number) }
        return ResultFiles.csv(header: ["true\\predicted"] + names, rows: rows)
    }

    /// `per_class.csv`, scikit-learn's `classification_report` as a table:
    /// `class,precision,recall,f1,support`, one row per class, then `accuracy` (precision and
    /// recall empty, f1 = accuracy, support = total, as the report prints it), `macro avg` and
    /// `weighted avg` (weighted by support). Definitions are sklearn's with `zero_division=0`
    /// and `labels=` every class, so classes absent from the test set count in the macro average.
    public static func perClassCSV(_ matrix: [[Int]], classNames: [String]) -> String {
        perClassCSV(ClassificationReport.from(confusion: matrix, classNames: namesFor(matrix, classNames)))
    }

    public static func perClassCSV(_ r: ClassificationReport) -> String {
        let number = { (v: Double) in ResultFiles.number(v) }
        var rows = r.classes.map { [$0.name, number($0.precision), number($0.recall), number($0.f1), String($0.support)] }
        rows.append(["accuracy", "", "", number(r.accuracy), String(r.total)])
        for m in [r.macro, r.weighted] { rows.append([m.name, number(m.precision), number(m.recall), number(m.f1), String(m.support)]) }
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
