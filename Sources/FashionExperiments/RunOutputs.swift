import Foundation
import Yams
import FashionConfig
import FashionStats
import FashionReports

/// Everything a finished run writes besides history.csv and metrics.json: the test
/// predictions, confusion matrices and per-class metrics (CSV and/or HDF5, as
/// `output.formats` says), the charts (gnuplot; a warning, not a failure, without it) and
/// report.md / report.html.
enum RunOutputs {
    static func writeRunFiles(_ r: RunResult, probabilities: [Float], experiment e: Experiment, modelSummary: String,
                              earlyStoppingEpoch: Int?, log: (String) -> Void) throws {
        let dir = r.directory
        let classes = r.classNames.count
        let testAccuracy = r.testAccuracy ?? .nan  // a classifier always has one
        let rows = (0..<r.truth.count).map { i in Array(probabilities[(i * classes)..<((i + 1) * classes)]) }
        let confusion = Confusion.matrix(truth: r.truth, predicted: r.predicted, classes: classes)
        let report = ClassificationReport.from(confusion: confusion, classNames: r.classNames)

        if e.output.formats.contains("csv") {
            try ResultFiles.write(RunFiles.predictionsCSV(labels: r.truth, probabilities: rows, classNames: r.classNames),
                                  to: dir.appendingPathComponent("predictions.csv"))
            try ResultFiles.write(RunFiles.confusionMatrixCSV(confusion, classNames: r.classNames), to: dir.appendingPathComponent("confusion_matrix.csv"))
            try ResultFiles.write(RunFiles.normalizedConfusionMatrixCSV(confusion, classNames: r.classNames),
                                  to: dir.appendingPathComponent("confusion_matrix_normalized.csv"))
            try ResultFiles.write(RunFiles.perClassCSV(report), to: dir.appendingPathComponent("per_class.csv"))
        }
        if e.output.formats.contains("hdf5") {
            try writeHDF5(r, rows: rows, confusion: confusion, experiment: e, to: dir.appendingPathComponent("history.h5"))
        }

        var images: [(String, String)] = []
        if e.output.charts {
            let charts = dir.appendingPathComponent("charts", isDirectory: true)
            try FileManager.default.createDirectory(at: charts, withIntermediateDirectories: true)
            var warnings: [String?] = []
            warnings.append(Charts.curves(epochs: r.history.map(\.epoch), loss: r.history.map(\.loss), accuracy: r.history.map { $0.accuracy ?? .nan },
                                          valLoss: r.history.contains { $0.valLoss != nil } ? r.history.map(\.valLoss) : nil,
                                          valAccuracy: r.history.contains { $0.valAccuracy != nil } ? r.history.map(\.valAccuracy) : nil,
                                          earlyStoppingEpoch: earlyStoppingEpoch, title: "\(e.name): loss and accuracy", in: charts))
            images.append(("Loss and accuracy", "charts/curves.png"))
            warnings.append(Charts.confusionHeatmap(matrix: confusion, classNames: r.classNames, title: "\(e.name): test confusion matrix", in: charts))
            images.append(("Confusion matrix", "charts/confusion_matrix.png"))
            if let entries = benchmarkEntries(e, accuracy: testAccuracy, lower: nil, upper: nil, classes: classes) {
                warnings.append(Charts.benchmarkBars(entries: entries, title: "\(e.name) among Zalando's Fashion-MNIST benchmarks", in: charts))
                images.append(("Among Zalando's benchmarks", "charts/benchmarks.png"))
            }
            for w in warnings.compactMap({ $0 }) { log("warning: \(w)") }
        }

        var doc = Document(title: "FashionBench run: \(e.name)")
        doc.add(.paragraph(e.description.isEmpty ? "Experiment \(e.name)." : e.description))
        doc.add(.table(["", ""], [["run", dir.lastPathComponent], ["experiment file", e.file], ["seed", String(e.seed)],
                                  ["git commit", (r.metrics["git_commit"] as? String) ?? "unknown"],
                                  ["started", (r.metrics["started_at"] as? String) ?? ""]]))
        doc.add(.heading(2, "Results"))
        doc.add(.table(["metric", "ours", "paper"], resultRows(r, experiment: e)))
        if classes == 10, e.data.dataset == "fashion_mnist" {
            let rank = ZalandoBenchmarks.rank(of: testAccuracy)
            doc.add(.paragraph(String(format: "Test accuracy %.4f places this run %d of %d among the machine entries of Zalando's Fashion-MNIST benchmark table with this run added (human performance: 0.835).",
                                      testAccuracy, rank.rank, rank.of)))
        }
        appendImagesAndTables(&doc, images: images, report: report, modelSummary: modelSummary)
        try ResultFiles.write(doc.markdown(), to: dir.appendingPathComponent("report.md"))
        try ResultFiles.write(doc.html(directory: dir), to: dir.appendingPathComponent("report.html"))
    }

    /// A reconstruction run's files: curves (loss only), `reconstructions.png` (test inputs in
    /// the top row, the model's reconstructions below), history.h5 and the report.
    static func writeReconstructionFiles(_ r: RunResult, pictures: (inputs: [Float], outputs: [Float]), imageShape: [Int],
                                         experiment e: Experiment, modelSummary: String, earlyStoppingEpoch: Int?,
                                         log: (String) -> Void) throws {
        let dir = r.directory
        let (h, w, c) = (imageShape[0], imageShape[1], imageShape.count > 2 ? imageShape[2] : 1)
        let size = h * w * c, n = pictures.inputs.count / max(size, 1)
        let tiles = { (values: [Float]) in (0..<n).map { Array(values[($0 * size)..<(($0 + 1) * size)]) } }
        try ImageGrid(height: h, width: w, channels: c, zoom: 2)
            .write(rows: [tiles(pictures.inputs), tiles(pictures.outputs)], to: dir.appendingPathComponent("reconstructions.png"))
        var images = [("Test images (top) and their reconstructions (bottom)", "reconstructions.png")]
        if e.output.formats.contains("hdf5") {
            let h5 = try HDF5Writer(path: dir.appendingPathComponent("history.h5").path)
            do {
                try writeHistory(r, experiment: e, to: h5)
                try h5.close()
            } catch {
                h5.discard()
                throw error
            }
        }
        if e.output.charts {
            let charts = dir.appendingPathComponent("charts", isDirectory: true)
            try FileManager.default.createDirectory(at: charts, withIntermediateDirectories: true)
            if let warning = Charts.curves(epochs: r.history.map(\.epoch), loss: r.history.map(\.loss), accuracy: nil,
                                           valLoss: r.history.contains { $0.valLoss != nil } ? r.history.map(\.valLoss) : nil,
                                           earlyStoppingEpoch: earlyStoppingEpoch, title: "\(e.name): loss", in: charts) {
                log("warning: \(warning)")
            }
            images.append(("Loss", "charts/curves.png"))
        }
        var doc = Document(title: "FashionBench run: \(e.name)")
        doc.add(.paragraph(e.description.isEmpty ? "Experiment \(e.name)." : e.description))
        doc.add(.table(["", ""], [["run", dir.lastPathComponent], ["experiment file", e.file], ["seed", String(e.seed)],
                                  ["git commit", (r.metrics["git_commit"] as? String) ?? "unknown"]]))
        doc.add(.heading(2, "Results"))
        let f = { (v: Double?) in v.map { String(format: "%.6f", $0) } ?? "" }
        doc.add(.table(["metric", "ours"], [
            ["test reconstruction MSE", f(r.testReconstructionMSE)], ["test loss", f(r.testLoss)],
            ["final validation loss", f(r.history.last?.valLoss)], ["final training loss", f(r.history.last?.loss)],
            ["epochs", String(r.history.count)],
            ["samples/s", String(format: "%.0f", (r.metrics["samples_per_second"] as? Double) ?? 0)],
        ]))
        appendImagesAndTables(&doc, images: images, report: nil, modelSummary: modelSummary)
        try ResultFiles.write(doc.markdown(), to: dir.appendingPathComponent("report.md"))
        try ResultFiles.write(doc.html(directory: dir), to: dir.appendingPathComponent("report.html"))
    }

    static func appendImagesAndTables(_ doc: inout Document, images: [(String, String)], report: ClassificationReport?, modelSummary: String) {
        if !images.isEmpty {
            doc.add(.heading(2, "Charts"))
            for (alt, path) in images { doc.add(.image(alt, path)) }
        }
        if let report {
            doc.add(.heading(2, "Per class (test set)"))
            let f = { (v: Double) in String(format: "%.4f", v) }
            var rows = report.classes.map { [$0.name, f($0.precision), f($0.recall), f($0.f1), String($0.support)] }
            rows.append(["accuracy", "", "", f(report.accuracy), String(report.total)])
            for m in [report.macro, report.weighted] { rows.append([m.name, f(m.precision), f(m.recall), f(m.f1), String(m.support)]) }
            doc.add(.table(["class", "precision", "recall", "f1", "support"], rows))
        }
        doc.add(.heading(2, "Model"))
        doc.add(.preformatted(modelSummary))
    }

    static func resultRows(_ r: RunResult, experiment e: Experiment) -> [[String]] {
        let reference = Dictionary(e.reference.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        func paper(_ key: String) -> String { reference[key].flatMap(Options.number).map { String(format: "%.4f", $0) } ?? "" }
        let last = r.history.last
        let f = { (v: Double?) in v.map { String(format: "%.4f", $0) } ?? "" }
        return [
            ["test accuracy", f(r.testAccuracy), paper("test_accuracy")],
            ["test loss", f(r.testLoss), paper("test_loss")],
            ["final validation accuracy", f(last?.valAccuracy), paper("validation_accuracy")],
            ["final validation loss", f(last?.valLoss), paper("validation_loss")],
            ["final training accuracy", f(last?.accuracy), paper("train_accuracy")],
            ["epochs", String(r.history.count), reference["epochs"]?.string ?? ""],
            ["training seconds", String(format: "%.1f", (r.metrics["train_seconds"] as? Double) ?? 0), reference["train_seconds"]?.string ?? ""],
            ["samples/s", String(format: "%.0f", (r.metrics["samples_per_second"] as? Double) ?? 0), ""],
            ["parameters", String((r.metrics["params"] as? Int) ?? 0), ""],
        ] + (reference["source"]?.string.map { [["paper source", "", $0]] } ?? [])
    }

    /// Zalando's table, the paper's reported accuracy and ours (with its interval when
    /// repeated) — only for the 10-class Fashion-MNIST task the table is about.
    static func benchmarkEntries(_ e: Experiment, accuracy: Double, lower: Double?, upper: Double?, classes: Int)
        -> [(label: String, accuracy: Double, lower: Double?, upper: Double?, kind: String)]? {
        guard classes == 10, e.data.dataset == "fashion_mnist", e.data.classes == nil else { return nil }
        var entries = ZalandoBenchmarks.entries.map {
            (label: $0.classifier, accuracy: $0.testAccuracy, lower: Double?.none, upper: Double?.none, kind: $0.isHuman ? "human" : "zalando")
        }
        let reference = Dictionary(e.reference.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        if let v = reference["test_accuracy"].flatMap(Options.number) {
            entries.append((label: "\(e.name) (paper, test)", accuracy: v, lower: nil, upper: nil, kind: "paper"))
        } else if let v = reference["validation_accuracy"].flatMap(Options.number) {
            entries.append((label: "\(e.name) (paper, validation)", accuracy: v, lower: nil, upper: nil, kind: "paper"))
        }
        entries.append((label: "\(e.name) (FashionBench)", accuracy: accuracy, lower: lower, upper: upper, kind: "ours"))
        return entries
    }

    static func writeHDF5(_ r: RunResult, rows: [[Float]], confusion: [[Int]], experiment e: Experiment, to url: URL) throws {
        let h5 = try HDF5Writer(path: url.path)
        do {
            try writeHistory(r, experiment: e, to: h5)
            try h5.write("test_true_label", ints: r.truth)
            try h5.write("test_predicted_label", ints: r.predicted)
            try h5.write("test_top_probability", floats: rows.map { $0.max() ?? 0 })
            try h5.writeMatrix("confusion_matrix", ints: confusion)
            try h5.write("class_names", strings: r.classNames)
            try h5.setAttribute("environment", string: environmentJSON(r))
            try h5.setAttribute("test_accuracy", double: r.testAccuracy ?? .nan)
            try h5.setAttribute("test_loss", double: r.testLoss)
            try h5.setAttribute("seed", int: Int(e.seed))
            try h5.close()
        } catch {
            h5.discard()
            throw error
        }
    }

    /// The per-epoch datasets (accuracy columns only for a classifier) and the experiment,
    /// shared by classification and reconstruction runs' history.h5.
    static func writeHistory(_ r: RunResult, experiment e: Experiment, to h5: HDF5Writer) throws {
        try h5.write("epoch", ints: r.history.map(\.epoch))
        try h5.write("loss", doubles: r.history.map(\.loss))
        let classification = r.history.contains { $0.accuracy != nil }
        if classification { try h5.write("accuracy", doubles: r.history.map { $0.accuracy ?? .nan }) }
        if r.history.contains(where: { $0.valLoss != nil }) {
            try h5.write("val_loss", doubles: r.history.map { $0.valLoss ?? .nan })
            if classification { try h5.write("val_accuracy", doubles: r.history.map { $0.valAccuracy ?? .nan }) }
        }
        try h5.write("learning_rate", doubles: r.history.map(\.learningRate))
        try h5.write("seconds", doubles: r.history.map(\.seconds))
        try h5.setAttribute("experiment", string: e.resolvedYAML)
        try h5.setAttribute("experiment_name", string: e.name)
        try h5.setAttribute("run_id", string: r.directory.lastPathComponent)
    }

    static func environmentJSON(_ r: RunResult) -> String {
        let p = ProcessInfo.processInfo
        let object: [String: Any] = [
            "git_commit": r.metrics["git_commit"] ?? NSNull(), "git_dirty": r.metrics["git_dirty"] ?? false,
            "threads": r.metrics["threads"] ?? 0, "host": p.hostName, "os": p.operatingSystemVersionString,
            "processors": p.activeProcessorCount, "memory_bytes": p.physicalMemory,
            "started_at": r.metrics["started_at"] ?? "", "finished_at": r.metrics["finished_at"] ?? "",
        ]
        return (try? ResultFiles.json(object)) ?? "{}"
    }

    // MARK: - Repeats and sweeps

    static func writeRepeatSummary(_ s: RepeatSummary, experiment e: Experiment, modelSummary: String, directory: URL, log: (String) -> Void) throws {
        var images: [(String, String)] = []
        if e.output.charts, let acc = s.summary("test_accuracy"),
           let entries = benchmarkEntries(e, accuracy: acc.mean, lower: acc.lower, upper: acc.upper, classes: s.classes) {
            let charts = directory.appendingPathComponent("charts", isDirectory: true)
            try FileManager.default.createDirectory(at: charts, withIntermediateDirectories: true)
            if let w = Charts.benchmarkBars(entries: entries, title: "\(e.name) (\(s.seeds.count) seeds) among Zalando's benchmarks", in: charts) { log("warning: \(w)") }
            images.append(("Among Zalando's benchmarks", "charts/benchmarks.png"))
        }
        var doc = Document(title: "FashionBench repeats: \(e.name)")
        doc.add(.paragraph(e.description.isEmpty ? "Experiment \(e.name)." : e.description))
        doc.add(.paragraph(s.headline))
        if let acc = s.summary("test_accuracy"), s.classes == 10, e.data.dataset == "fashion_mnist", e.data.classes == nil {
            let rank = ZalandoBenchmarks.rank(of: acc.mean)
            doc.add(.paragraph(String(format: "Mean test accuracy %.4f places this experiment %d of %d among the machine entries of Zalando's Fashion-MNIST benchmark table with it added (human performance: 0.835).",
                                      acc.mean, rank.rank, rank.of)))
        }
        let reference = e.reference.filter { ["test_accuracy", "validation_accuracy", "source", "notes"].contains($0.0) }
        if !reference.isEmpty {
            doc.add(.table(["paper", ""], reference.map { [$0.0, $0.1.string ?? ""] }))
        }
        doc.add(.table(["metric", "n", "mean", "sd", "\(percentText(s.confidence))% lower", "\(percentText(s.confidence))% upper", "t"],
                       s.values.map { v in
                           [v.metric, String(v.summary.count), String(format: "%.4f", v.summary.mean), String(format: "%.4f", v.summary.standardDeviation),
                            String(format: "%.4f", v.summary.lower), String(format: "%.4f", v.summary.upper), String(format: "%.4f", v.summary.tCritical)]
                       }))
        doc.add(.table(["seed", "test accuracy", "run"], zip(s.seeds, s.values.first { $0.metric == "test_accuracy" }?.values ?? []).map {
            [String($0.0), String(format: "%.4f", $0.1), "seed-\($0.0)/report.md"]
        }))
        appendImagesAndTables(&doc, images: images, report: nil, modelSummary: modelSummary)
        try ResultFiles.write(doc.markdown(), to: directory.appendingPathComponent("report.md"))
        try ResultFiles.write(doc.html(directory: directory), to: directory.appendingPathComponent("report.html"))
        try ResultFiles.write(s.csv, to: directory.appendingPathComponent("summary.csv"))
        // summary.json marks the group complete: written under the lock an interruption takes.
        let json = try ResultFiles.json(s.json)
        try Interruption.complete(directory) { try ResultFiles.write(json, to: directory.appendingPathComponent("summary.json")) }
    }

    static func sweepChart(_ rows: [(label: String, value: Double)], metric: String, directory: URL) -> String? {
        Charts.sweepChart(rows: rows.map { (label: $0.label, value: $0.value, lower: nil, upper: nil) }, metric: metric,
                          title: "\(directory.lastPathComponent): \(metric)", in: directory)
    }
}
