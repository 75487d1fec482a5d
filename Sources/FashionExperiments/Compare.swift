import Foundation
import FashionConfig
import FashionStats
import FashionData
import FashionReports
import CSV

/// Comparing two classifiers the ways Dietterich (1998) recommends.
public enum Compare {
    /// McNemar's test on two finished runs' test predictions (their `predictions.csv`).
    public static func mcnemar(runA: String, runB: String, confidence: Double = 0.95) throws -> (McNemarResult, String) {
        let a = try Predictions.read(run: runA), b = try Predictions.read(run: runB)
        guard !a.truth.isEmpty else { throw HarnessError("\(runA)/predictions.csv has no predictions") }
        guard a.truth == b.truth else {
            throw HarnessError("the two runs were not tested on the same examples (\(a.truth.count) vs \(b.truth.count) test labels, or different labels)")
        }
        let r = McNemar.test(truth: a.truth, predictionsA: a.predicted, predictionsB: b.predicted, confidence: confidence)
        var text = "McNemar's test on \(r.n) test examples (\(r.method))\n"
        text += "  A: \(runA)\n  B: \(runB)\n"
        text += String(format: "  accuracy A %.4f, B %.4f; only A right: %d, only B right: %d\n", r.accuracyA, r.accuracyB, r.onlyACorrect, r.onlyBCorrect)
        if let chi = r.statistic { text += String(format: "  chi-squared (continuity-corrected) = %.4f, 1 d.o.f.\n", chi) }
        text += String(format: "  p-value = %.6g\n", r.pValue)
        text += String(format: "  difference in accuracy A − B = %.4f, %@%% interval [%.4f, %.4f]\n", r.difference, percentText(confidence), r.differenceLower, r.differenceUpper)
        return (r, text)
    }

    /// Dietterich's 5×2cv paired t-test: five times, a seeded stratified 50/50 split of the
    /// training data; each experiment trains on one half and is tested on the other, then the
    /// halves swap. The statistic uses the first fold's difference and all ten variances, with
    /// 5 degrees of freedom. Callbacks that watch validation numbers are dropped (the folds have
    /// no validation set).
    public static func fiveByTwo(_ a: Experiment, _ b: Experiment, limit: Int?, seed: UInt64,
                                 log: @escaping (String) -> Void) throws -> (FiveByTwoResult, [[Double]], String) {
        try fiveByTwo(a, b, data: fiveByTwoData(a, b, limit: limit), seed: seed, log: log)
    }

    /// The images the folds split, once both experiments were checked to suit 5x2cv: the
    /// mistakes found here cost no training.
    public static func fiveByTwoData(_ a: Experiment, _ b: Experiment, limit: Int?) throws -> ImageSet {
        guard a.data.dataset == b.data.dataset, a.data.classes == b.data.classes, a.data.path == b.data.path,
              a.data.products?.settings == b.data.products?.settings else {
            throw HarnessError("the two experiments must use the same dataset and classes")
        }
        // The folds split one set of images, loaded as A's file says: B's own choices of what
        // to hold out or undersample would silently not apply.
        if let pa = withoutSplit(a).data.products, let pb = withoutSplit(b).data.products {
            if pa.testFraction != pb.testFraction {
                throw HarnessError("the two experiments must draw the same images, but their data.test_fraction differs (\(pa.testFraction) in \(a.name), \(pb.testFraction) in \(b.name))")
            }
            if pa.balance != pb.balance {
                throw HarnessError("the two experiments must draw the same images, but their data.balance differs (\(describe(pa.balance)) in \(a.name), \(describe(pb.balance)) in \(b.name))")
            }
        }
        for e in [a, b] where e.training.targets != "labels" {
            throw HarnessError("5x2cv compares classifiers; \(e.name) reconstructs its input")
        }
        for e in [a, b] where e.training.initFrom != nil {
            // The starting weights were trained on the whole training set, so every fold would
            // test on images they have seen.
            throw HarnessError("5x2cv trains every fold from scratch, and \(e.name) starts from the weights of \(e.training.initFrom!), "
                               + "which were trained on the images the folds test on; compare two finished runs instead (`compare RUN_A RUN_B`, McNemar's test)")
        }
        var (all, _, _) = try RunPlan.loadDataset(withoutSplit(a))
        if let limit { all = all.prefix(min(limit, all.count)) }
        // Stratified halves hold every class only if it has two examples; a class of one lands
        // in one half, and many such classes skew the halves far from 50/50.
        var counts: [Int32: Int] = [:]
        for label in all.labels { counts[label, default: 0] += 1 }
        if let (label, _) = counts.filter({ $0.value < 2 }).min(by: { $0.key < $1.key }) {
            let name = all.classNames.indices.contains(Int(label)) ? " (\(all.classNames[Int(label)]))" : ""
            throw HarnessError("5x2cv splits the data into stratified halves, so every class needs at least 2 examples; class \(label)\(name) has 1 among the \(all.count) images used"
                               + (limit != nil ? " (raise --limit)" : ""))
        }
        return all
    }

    private static func describe(_ balance: Balance?) -> String {
        switch balance {
        case nil: return "none"
        case .undersample(let n)?: return "undersample" + (n.map { " to \($0) per class" } ?? "")
        case .oversample(let n)?: return "oversample" + (n.map { " to \($0) per class" } ?? "")
        }
    }

    /// The test on prepared data (`fiveByTwoData`).
    public static func fiveByTwo(_ a: Experiment, _ b: Experiment, data all: ImageSet, seed: UInt64,
                                 log: @escaping (String) -> Void) throws -> (FiveByTwoResult, [[Double]], String) {
        var differences: [[Double]] = []
        var table: [[String]] = []
        for i in 0..<5 {
            let halves = Split.stratified(fraction: 0.5, seed: seed &+ UInt64(i), of: all)
            var row: [Double] = []
            for (j, (train, test)) in [(halves.train, halves.validation), (halves.validation, halves.train)].enumerated() {
                func error(_ e: Experiment, _ which: String) throws -> Double {
                    do { return try errorRate(withoutSplit(e), train: train, test: test) } catch {
                        throw HarnessError("5x2cv, replication \(i + 1) fold \(j + 1), experiment \(which) (\(e.name)): \(error)")
                    }
                }
                let errorA = try error(a, "A"), errorB = try error(b, "B")
                log(String(format: "replication %d fold %d: error A %.4f, B %.4f, difference %.4f", i + 1, j + 1, errorA, errorB, errorA - errorB))
                row.append(errorA - errorB)
                table.append([String(i + 1), String(j + 1), String(train.count), String(test.count),
                              ResultFiles.number(errorA), ResultFiles.number(errorB), ResultFiles.number(errorA - errorB)])
            }
            differences.append(row)
        }
        let r = FiveByTwoCV.test(differences: differences)
        let csv = ResultFiles.csv(header: ["replication", "fold", "train_examples", "test_examples", "error_a", "error_b", "difference"], rows: table)
        return (r, differences, csv)
    }

    /// The experiment as one fold trains it: on the fold's half, without a validation split.
    public static func withoutSplit(_ e: Experiment) -> Experiment {
        var e = e
        e.data.validation = .none
        e.data.limit = nil
        e.data.testLimit = nil
        // No validation data to monitor, and no run directory for a fold's checkpoint; callbacks
        // that watch the training loss or accuracy still shape the training, as in a run.
        e.training.callbacks.removeAll {
            if case .modelCheckpoint = $0.kind { return true }
            return $0.monitor.hasPrefix("val_")
        }
        // Oversampled copies would land in both halves of a fold and test on seen images.
        if case .oversample? = e.data.products?.balance { e.data.products?.balance = nil }
        return e
    }

    /// Trains `e` on `train` (with its callbacks) and returns its error rate on `test`.
    public static func errorRate(_ e: Experiment, train: ImageSet, test: ImageSet) throws -> Double {
        let plan = try RunPlan(experiment: e, data: (train, nil, test))
        let callbacks = e.training.callbacks.map { $0.make(runDirectory: FileManager.default.temporaryDirectory) }
        let trainer = plan.makeTrainer(callbacks: callbacks)
        trainer.log = { _ in }
        _ = try trainer.fit(train: train, validation: nil, epochs: e.training.epochs) { _ in }
        guard let accuracy = trainer.evaluate(test).accuracy else { throw HarnessError("5x2cv compares classifiers; \(e.name) reconstructs its input") }
        return 1 - accuracy
    }
}

/// A problem with results, sweeps or comparisons, said in one line.
public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A run's `predictions.csv`: test index, true and predicted labels.
enum Predictions {
    static func read(run: String) throws -> (truth: [Int], predicted: [Int]) {
        try FinishedRun.check(run, use: "its predictions")
        let url = URL(fileURLWithPath: run).appendingPathComponent("predictions.csv")
        guard FileKind.notRegular(url.path) == nil, let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw HarnessError("\(url.path): cannot be read (is \(run) a finished run directory written with output.formats including csv?)")
        }
        guard let reader = try? CSVReader(string: text, hasHeaderRow: true), let header = reader.headerRow,
              let t = header.firstIndex(of: "true_label"), let p = header.firstIndex(of: "predicted_label") else {
            throw HarnessError("\(url.path): no true_label and predicted_label columns")
        }
        let index = header.firstIndex(of: "index")
        let names = (header.firstIndex(of: "true_name"), header.firstIndex(of: "predicted_name"))
        var truth: [Int] = [], predicted: [Int] = []
        var nameOf: [Int: String] = [:], labelOf: [String: Int] = [:]
        var i = 0
        while let row = reader.next() {
            i += 1
            let line = "\(url.path):\(i + 1)"
            guard row.count == header.count, let a = Int(row[t]), let b = Int(row[p]), a >= 0, b >= 0 else {
                throw HarnessError("\(line): not a row of \(header.count) fields with non-negative integer labels")
            }
            // The test examples in their order: McNemar pairs the two runs' rows by position.
            if let index, row[index] != String(i - 1) {
                throw HarnessError("\(line): index \(row[index]) where \(i - 1) belongs (rows reordered, repeated or missing?)")
            }
            // One name per label: an edited label no longer matches its name.
            for (label, column) in [(a, names.0), (b, names.1)] {
                guard let column else { continue }
                if let known = nameOf[label], known != row[column] {
                    throw HarnessError("\(line): label \(label) is named \"\(row[column])\" here and \"\(known)\" before")
                }
                if let known = labelOf[row[column]], known != label {
                    throw HarnessError("\(line): \"\(row[column])\" is label \(label) here and \(known) before")
                }
                nameOf[label] = row[column]
                labelOf[row[column]] = label
            }
            truth.append(a)
            predicted.append(b)
        }
        // metrics.json counts the test examples: fewer rows means a cut-off file.
        if let expected = FinishedRun.metrics(run)?["test_examples"] as? Int, expected != truth.count {
            throw HarnessError("\(url.path) has \(truth.count) rows, but the run tested \(expected) examples (metrics.json): is the file cut off?")
        }
        return (truth, predicted)
    }
}
