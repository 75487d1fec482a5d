import Foundation
import CSV
import Yams
import FashionReports

/// Runs a sweep's trials (all, or one shard's) and merges shards into `sweep.csv`, sorted by
/// the sweep's metric. Layout: `Results/sweeps/<name>/trials/<trial-id>/<run-id>/` for the
/// runs, `shard-<i>-of-<n>.csv` per shard (never overwritten), `sweep.csv` and the chart
/// from `--collect` (or straight away when the sweep runs in one go).
public enum SweepRunner {
    /// Every metric a sweep may rank by (`Sweep.metrics`) has a column.
    public static let resultColumns = ["test_accuracy", "test_loss", "test_reconstruction_mse", "best_val_accuracy", "final_val_accuracy",
                                       "best_val_loss", "final_val_loss", "epochs_run"]

    public static func directory(_ sweep: Sweep, root: String?) -> URL {
        URL(fileURLWithPath: root ?? sweep.outputDirectory).appendingPathComponent(sweep.name, isDirectory: true)
    }

    public static func run(_ sweep: Sweep, shard: Shard, root: String? = nil, overrides: Overrides = Overrides(),
                           log: @escaping (String) -> Void) throws -> URL {
        let dir = directory(sweep, root: root)
        let shardFile = dir.appendingPathComponent("shard-\(shard.index)-of-\(shard.count).csv")
        guard !FileManager.default.fileExists(atPath: shardFile.path) else {
            throw HarnessError("\(shardFile.path) exists: this shard already ran; move it away to run it again")
        }
        let trials = sweep.trials(shard: shard.index, of: shard.count)
        // Every trial's file and model are checked before anything runs or is written, and so
        // is what only the data shows (split sizes, classes, the input shape, init_from's
        // weights), once for each distinct data, model, seed and init_from of the trials.
        let experiments = try trials.map { try sweep.experiment(for: $0, overrides: overrides) }
        var checkedWithData: Set<String> = []
        for e in experiments {
            _ = try RunPlan(experiment: e, loadData: checkedWithData.insert(try dataCheckKey(e)).inserted)
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("trials"), withIntermediateDirectories: true)
        log("Sweep \(sweep.name): shard \(shard.index)/\(shard.count) runs \(trials.count) of \(sweep.trials.count) trials")

        var rows: [[String]] = []
        for (trial, e) in zip(trials, experiments) {
            log("\(trial.id): " + trial.values.map { "\($0.0)=\($0.1)" }.joined(separator: ", "))
            let r = try Runner.run(e, resultsRoot: dir.appendingPathComponent("trials").path, log: { _ in }, liveProgress: false)
            if let accuracy = r.testAccuracy {
                log(String(format: "  test accuracy %.4f, test loss %.4f (%@)", accuracy, r.testLoss, r.directory.lastPathComponent))
            } else {
                log(String(format: "  test reconstruction MSE %.6f, test loss %.4f (%@)", r.testReconstructionMSE ?? .nan, r.testLoss, r.directory.lastPathComponent))
            }
            rows.append(row(trial, metrics: r.metrics, runDirectory: r.directory.path))
        }
        try ResultFiles.write(ResultFiles.csv(header: header(sweep), rows: rows), to: shardFile)
        if shard.count == 1 { try collect(sweep, root: root, log: log) }
        return dir
    }

    /// What a check with data depends on: the resolved data and model sections, the seed
    /// (splits) and init_from.
    static func dataCheckKey(_ e: Experiment) throws -> String {
        guard let node = try Yams.compose(yaml: e.resolvedYAML) else { return e.resolvedYAML }
        let sections = try ["data", "model"].map { try node[$0].map { try Yams.serialize(node: $0) } ?? "" }
        return ([String(e.seed), e.training.initFrom ?? ""] + sections).joined(separator: "\u{1F}")
    }

    static func header(_ sweep: Sweep) -> [String] {
        ["trial"] + sweep.keys + resultColumns + ["train_seconds", "run_directory"]
    }

    static func row(_ trial: Sweep.Trial, metrics: [String: Any], runDirectory: String) -> [String] {
        [trial.id] + trial.values.map(\.1) + resultColumns.map { key in
            switch metrics[key] {
            case let d as Double: return ResultFiles.number(d)
            case let i as Int: return String(i)
            default: return ""
            }
        } + [String(format: "%.3f", (metrics["train_seconds"] as? Double) ?? 0), runDirectory]
    }

    /// Merges the shard files of one shard count: every trial exactly once, or an error naming
    /// what is missing. Writes `sweep.csv` (trial values and results, sorted by the metric, best
    /// first — the same bytes however the sweep was split), `sweep_runs.csv` (with run
    /// directories and times) and the chart.
    @discardableResult
    public static func collect(_ sweep: Sweep, root: String? = nil, log: @escaping (String) -> Void) throws -> URL {
        let dir = directory(sweep, root: root)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let shardFiles = names.filter { $0.hasPrefix("shard-") && $0.hasSuffix(".csv") }.sorted()
        let counts = Set(shardFiles.compactMap { $0.split(separator: "-").last.flatMap { Int($0.dropLast(4)) } })
        guard counts.count == 1, let n = counts.first else {
            throw HarnessError(shardFiles.isEmpty ? "\(dir.path) has no shard results yet (run `fashionbench sweep \(sweep.file)` first)"
                                                  : "\(dir.path) holds shards of different splits (\(counts.sorted().map(String.init).joined(separator: ", "))); keep one")
        }
        let expectedHeader = header(sweep)
        var byTrial: [String: [String]] = [:]
        for name in shardFiles {
            let url = dir.appendingPathComponent(name)
            let reader = try CSVReader(string: try String(contentsOf: url, encoding: .utf8), hasHeaderRow: true)
            guard reader.headerRow == expectedHeader else { throw HarnessError("\(url.path): columns differ from this sweep file's") }
            while let row = reader.next() {
                guard row.count == expectedHeader.count else { throw HarnessError("\(url.path): a row has \(row.count) fields") }
                guard byTrial[row[0]] == nil else { throw HarnessError("\(url.path): \(row[0]) appears in two shards") }
                byTrial[row[0]] = row
            }
        }
        let missing = sweep.trials.map(\.id).filter { byTrial[$0] == nil }
        guard missing.isEmpty else {
            throw HarnessError("\(missing.count) of \(sweep.trials.count) trials have no result yet (\(missing.prefix(5).joined(separator: ", "))…); run the missing shards of \(n)")
        }
        guard let metricColumn = expectedHeader.firstIndex(of: sweep.metric) else {
            throw HarnessError("the sweep's metric \(sweep.metric) has no column in \(expectedHeader.joined(separator: ","))")
        }
        let rows = sweep.trials.map { byTrial[$0.id]! }.sorted { a, b in
            let x = Double(a[metricColumn]) ?? .nan, y = Double(b[metricColumn]) ?? .nan
            if x != y { return sweep.higherIsBetter ? x > y : x < y }
            return a[0] < b[0]
        }
        let stable = expectedHeader.count - 2  // without train_seconds and run_directory
        try ResultFiles.write(ResultFiles.csv(header: Array(expectedHeader.prefix(stable)), rows: rows.map { Array($0.prefix(stable)) }),
                              to: dir.appendingPathComponent("sweep.csv"))
        try ResultFiles.write(ResultFiles.csv(header: expectedHeader, rows: rows), to: dir.appendingPathComponent("sweep_runs.csv"))
        let chartRows = rows.map { r in
            (label: "\(r[0]): " + sweep.keys.enumerated().map { "\($0.element.split(separator: ".").last ?? "")=\(r[$0.offset + 1])" }.joined(separator: " "),
             value: Double(r[metricColumn]) ?? .nan)
        }
        if let warning = RunOutputs.sweepChart(chartRows, metric: sweep.metric, directory: dir) { log("warning: \(warning)") }
        log("Sweep \(sweep.name): \(rows.count) trials; best \(rows[0][0]) with \(sweep.metric) \(rows[0][metricColumn]); table in \(dir.path)/sweep.csv")
        return dir
    }
}
