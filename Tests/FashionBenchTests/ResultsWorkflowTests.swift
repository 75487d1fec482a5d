import Foundation
import Testing
import Yams
import FashionConfig
import FashionData
import FashionExperiments
import FashionReports

/// Repeats, sweeps, comparisons and the results index, end to end on small slices of the
/// real Fashion-MNIST (skipped only where the Debian package is missing).
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-labels-idx1-ubyte.gz")))
struct ResultsWorkflowTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-\(name)-\(UUID().uuidString)", isDirectory: true)
    }

    /// A quick experiment file: model_1 on a slice, one epoch.
    func quickExperiment(in dir: URL, extra: String = "") throws -> URL {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let text = """
        name: quick
        seed: 1
        \(extra)
        data:
          validation: first 200
          limit: 600
          test_limit: 300
        model:
          layers:
            - type: Flatten
            - {type: Dense, units: 32, activation: relu}
            - {type: Dense, units: 10, activation: softmax}
        training:
          epochs: 1
          batch_size: 32
          threads: 1
        """
        let url = dir.appendingPathComponent("quick.yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test func repeatsGiveAStudentTInterval() throws {
        let dir = temporary("repeats")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir, extra: "repeats: 3")
        let e = try Experiment.load(file: file.path)
        let (group, runs, _) = try Runner.runRepeats(e, resultsRoot: dir.appendingPathComponent("Results").path, log: { _ in }, liveProgress: false)
        #expect(runs.count == 3)
        // Each seed is a complete run of its own, with its own seed.
        var accuracies: [Double] = []
        for seed in 1...3 {
            let m = try JSONSerialization.jsonObject(with: Data(contentsOf: group.appendingPathComponent("seed-\(seed)/metrics.json"))) as! [String: Any]
            #expect(m["seed"] as? Int == seed)
            accuracies.append(m["test_accuracy"] as! Double)
        }
        // By hand: mean, sample sd, t(0.975, 2) = 4.302652729911275 (scipy.stats.t.ppf).
        let mean = accuracies.reduce(0, +) / 3
        let sd = (accuracies.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 2).squareRoot()
        let half = 4.302652729911275 * sd / 3.0.squareRoot()
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: group.appendingPathComponent("summary.json"))) as! [String: Any]
        let acc = (summary["metrics"] as! [String: Any])["test_accuracy"] as! [String: Any]
        #expect(abs((acc["mean"] as! Double) - mean) < 1e-12)
        #expect(abs((acc["std"] as! Double) - sd) < 1e-12)
        #expect(abs((acc["lower"] as! Double) - (mean - half)) < 1e-9)
        #expect(abs((acc["upper"] as! Double) - (mean + half)) < 1e-9)
        let csv = try String(contentsOf: group.appendingPathComponent("summary.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("metric,n,mean,std,sem,confidence,t,lower,upper,seed_1,seed_2,seed_3\n"))
        #expect(FileManager.default.fileExists(atPath: group.appendingPathComponent("report.html").path))
    }

    @Test func runFilesFollowTheOutputFormats() throws {
        let dir = temporary("formats")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir, extra: "output: {formats: hdf5, charts: false}")
        let r = try Runner.run(try Experiment.load(file: file.path), resultsRoot: dir.appendingPathComponent("Results").path, log: { _ in }, liveProgress: false)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: r.directory.path))
        #expect(files.contains("history.h5") && files.contains("history.csv") && files.contains("metrics.json"))
        #expect(!files.contains("predictions.csv") && !files.contains("charts"))
        let h5 = try HDF5Reader(path: r.directory.appendingPathComponent("history.h5").path)
        defer { h5.close() }
        #expect(try h5.readDoubles("loss") == r.history.map(\.loss))
        #expect(try h5.readInts("test_true_label") == r.truth)
        #expect(try h5.readInts("test_predicted_label") == r.predicted)
        #expect(try h5.stringAttribute("experiment_name") == "quick")
        #expect(try h5.stringAttribute("experiment").contains("formats: hdf5"))
    }

    @Test func aDivergingRunLeavesNoMetrics() throws {
        let dir = temporary("diverge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let e = try Experiment.load(file: file.path, patches: [("training.optimizer", try Yams.compose(yaml: "{name: rmsprop, learning_rate: 1.0e30}")!)])
        let results = dir.appendingPathComponent("Results")
        #expect(throws: TrainingError.self) { _ = try Runner.run(e, resultsRoot: results.path, log: { _ in }, liveProgress: false) }
        let runs = try FileManager.default.contentsOfDirectory(atPath: results.appendingPathComponent("quick").path)
        #expect(runs.count == 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: results.appendingPathComponent("quick/\(runs[0])").path)
        #expect(files.contains("failed.txt") && !files.contains("metrics.json"))
    }

    /// While a run trains, its directory is the one an interruption (SIGINT/SIGTERM) marks
    /// with failed.txt; a finished run is never marked.
    @Test func anInterruptedRunSaysSo() throws {
        let dir = temporary("interrupt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        nonisolated(unsafe) var markedDuringTraining: [URL] = []
        let results = dir.appendingPathComponent("Results")
        // The marked run goes on training (in the command, the signal handler ends the process
        // meanwhile) but never writes metrics.json beside failed.txt.
        #expect(throws: RunError.self) {
            _ = try Runner.run(try Experiment.load(file: file.path), resultsRoot: results.path, log: { line in
                if line.hasPrefix("Data: "), markedDuringTraining.isEmpty {
                    markedDuringTraining = Interruption.markActiveRuns(reason: "received SIGTERM")
                }
            }, liveProgress: false)
        }
        let run = try #require(markedDuringTraining.first)
        #expect(markedDuringTraining.count == 1 && run.deletingLastPathComponent().lastPathComponent == "quick")
        let failed = try String(contentsOf: run.appendingPathComponent("failed.txt"), encoding: .utf8)
        #expect(failed.contains("interrupted: received SIGTERM") && failed.contains("no metrics.json"))
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("metrics.json").path))
        #expect(Interruption.activeDirectories.isEmpty, "a finished run is no longer active")

        // A run that has written metrics.json is complete: a late signal leaves it alone.
        let r = try Runner.run(try Experiment.load(file: file.path), resultsRoot: results.path, log: { _ in }, liveProgress: false)
        Interruption.begin(r.directory)
        #expect(Interruption.markActiveRuns(reason: "received SIGINT").isEmpty)
        Interruption.end(r.directory)
        #expect(!FileManager.default.fileExists(atPath: r.directory.appendingPathComponent("failed.txt").path))
    }

    @Test func mcnemarComparesTwoRuns() throws {
        let dir = temporary("mcnemar")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let results = dir.appendingPathComponent("Results").path
        let a = try Runner.run(try Experiment.load(file: file.path), resultsRoot: results, log: { _ in }, liveProgress: false)
        let b = try Runner.run(try Experiment.load(file: file.path, overrides: Overrides(seed: 9)), resultsRoot: results, log: { _ in }, liveProgress: false)
        let (r, text) = try Compare.mcnemar(runA: a.directory.path, runB: b.directory.path)
        let onlyA = zip(zip(a.truth, a.predicted), b.predicted).filter { $0.0.0 == $0.0.1 && $0.1 != $0.0.0 }.count
        let onlyB = zip(zip(a.truth, a.predicted), b.predicted).filter { $0.0.0 != $0.0.1 && $0.1 == $0.0.0 }.count
        #expect(r.n == 300 && r.onlyACorrect == onlyA && r.onlyBCorrect == onlyB)
        #expect(abs(r.accuracyA - (a.testAccuracy ?? -1)) < 1e-12 && abs(r.accuracyB - (b.testAccuracy ?? -1)) < 1e-12)
        #expect(text.contains("p-value"))
    }

    @Test func fiveByTwoCrossValidationFollowsDietterich() throws {
        let dir = temporary("5x2cv")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let a = try Experiment.load(file: file.path)
        let b = try Experiment.load(file: file.path, patches: [("model.layers[1].units", Node("8", Tag(.int)))])
        let (r, differences, table) = try Compare.fiveByTwo(a, b, limit: 400, seed: 3, log: { _ in })
        #expect(differences.count == 5 && differences.allSatisfy { $0.count == 2 })
        #expect(table.split(separator: "\n").count == 11)
        // t = p₁⁽¹⁾ / √(Σ sᵢ² / 5), sᵢ² = Σⱼ (pᵢ⁽ʲ⁾ − p̄ᵢ)², by hand from the fold differences.
        let variances = differences.map { row -> Double in
            let mean = (row[0] + row[1]) / 2
            return (row[0] - mean) * (row[0] - mean) + (row[1] - mean) * (row[1] - mean)
        }
        let t = differences[0][0] / (variances.reduce(0, +) / 5).squareRoot()
        #expect(abs(r.t - t) < 1e-9 * max(1, abs(t)))
        #expect(r.degreesOfFreedom == 5)
        #expect(r.pValue >= 0 && r.pValue <= 1)
    }

    /// A fold trains as a run would, minus what needs validation data or a run directory:
    /// callbacks on the training loss stay and act (here a reducer that halves the rate every
    /// epoch changes the fold's error).
    @Test func fiveByTwoKeepsCallbacksOnTheTrainingLoss() throws {
        let dir = temporary("5x2cv-callbacks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        var text = try String(contentsOf: file, encoding: .utf8)
        text = text.replacingOccurrences(of: "  epochs: 1\n", with: """
          epochs: 3
          callbacks:
            - {type: ReduceLROnPlateau, monitor: loss, factor: 0.1, patience: 1, min_delta: 10}
            - {type: EarlyStopping, monitor: val_loss, patience: 1}
            - {type: ModelCheckpoint, monitor: loss}

        """)
        try text.write(to: file, atomically: true, encoding: .utf8)
        let e = try Experiment.load(file: file.path)
        let fold = Compare.withoutSplit(e)
        #expect(fold.training.callbacks.map(\.monitor) == ["loss"])
        var (all, _, _) = try RunPlan.loadDataset(fold)
        all = all.subset(Array(0..<400))
        let train = all.subset(Array(0..<200)), test = all.subset(Array(200..<400))
        var without = fold
        without.training.callbacks = []
        let reduced = try Compare.errorRate(fold, train: train, test: test)
        let plain = try Compare.errorRate(without, train: train, test: test)
        #expect(reduced != plain, "the reducer on the training loss took part in the fold")
    }

    @Test func shardedSweepEqualsOneGo() throws {
        let dir = temporary("sweep")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try quickExperiment(in: dir)
        let sweepFile = dir.appendingPathComponent("sweep.yaml")
        try """
        name: tiny_sweep
        base: quick.yaml
        metric: test_accuracy
        set: {training.epochs: 1}
        grid:
          training.optimizer.name: [adam, rmsprop]
          training.optimizer.learning_rate: [0.001, 0.01]
          model.layers[1].units: [16]
        """.write(to: sweepFile, atomically: true, encoding: .utf8)
        let sweep = try Sweep.load(file: sweepFile.path)
        #expect(sweep.trials.count == 4)
        #expect(sweep.trials.map { $0.values.map(\.1) } == [["adam", "0.001", "16"], ["adam", "0.01", "16"], ["rmsprop", "0.001", "16"], ["rmsprop", "0.01", "16"]])
        // Every trial runs in exactly one of n shards.
        for n in 1...5 {
            let covered = (0..<n).flatMap { sweep.trials(shard: $0, of: n).map(\.index) }
            #expect(covered.sorted() == Array(0..<4))
        }
        let oneGo = dir.appendingPathComponent("one")
        _ = try SweepRunner.run(sweep, shard: Shard(index: 0, count: 1), root: oneGo.path, log: { _ in })
        let sharded = dir.appendingPathComponent("three")
        for i in 0..<3 { _ = try SweepRunner.run(sweep, shard: Shard(index: i, count: 3), root: sharded.path, log: { _ in }) }
        #expect(throws: (any Error).self) { try SweepRunner.run(sweep, shard: Shard(index: 0, count: 3), root: sharded.path, log: { _ in }) }
        try SweepRunner.collect(sweep, root: sharded.path, log: { _ in })
        let a = try String(contentsOf: oneGo.appendingPathComponent("tiny_sweep/sweep.csv"), encoding: .utf8)
        let b = try String(contentsOf: sharded.appendingPathComponent("tiny_sweep/sweep.csv"), encoding: .utf8)
        #expect(a == b)
        #expect(a.split(separator: "\n").count == 5)
        // Sorted best first by the metric.
        let accuracies = a.split(separator: "\n").dropFirst().map { Double($0.split(separator: ",")[6])! }
        #expect(accuracies == accuracies.sorted(by: >))
    }

    /// A trial that fails (here: diverges) is recorded and the sweep goes on; the tables list
    /// it last as failed, and the outcome names it with its values. A trial with repeats is
    /// ranked by the mean over its seeds, with the number of seeds and the group's directory.
    @Test func failedTrialsAreRecordedAndRepeatsRankByTheirMean() throws {
        let dir = temporary("sweep-failed")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try quickExperiment(in: dir)
        let sweepFile = dir.appendingPathComponent("sweep.yaml")
        try """
        name: failing
        base: quick.yaml
        metric: test_accuracy
        set: {repeats: 2}
        grid:
          training.optimizer.learning_rate: [0.001, 1.0e+30, 0.003]
        """.write(to: sweepFile, atomically: true, encoding: .utf8)
        let sweep = try Sweep.load(file: sweepFile.path)
        let root = dir.appendingPathComponent("Results")
        var log: [String] = []
        let outcome = try SweepRunner.run(sweep, shard: Shard(index: 0, count: 1), root: root.path, log: { log.append($0) })
        #expect(outcome.failed.count == 1)
        #expect(outcome.failed.first?.hasPrefix("trial-001 (training.optimizer.learning_rate = 1.0e+30): training diverged in epoch 1") == true, "\(outcome.failed)")
        #expect(log.contains { $0.hasPrefix("trial-002:") }, "the sweep stopped at the failed trial: \(log)")
        let sweepDir = root.appendingPathComponent("failing")
        let table = try String(contentsOf: sweepDir.appendingPathComponent("sweep_runs.csv"), encoding: .utf8)
            .split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // trial, learning_rate, status, seeds, test_accuracy, …, epochs_run, test_accuracy_sd, train_seconds, run_directory, settings, error
        #expect(table.dropFirst().map { $0[0] } .last == "trial-001")
        let failedRow = table.last!
        #expect(failedRow[2] == "failed" && failedRow[4].isEmpty && failedRow[12].isEmpty
                && failedRow[15...].joined(separator: ",").contains("training diverged"), "\(failedRow)")
        #expect(failedRow[14].hasPrefix(sweepDir.appendingPathComponent("trials/trial-001").path))
        // The group says why it has no summary, as its seed's run does.
        let groupFailure = try String(contentsOf: URL(fileURLWithPath: failedRow[14]).appendingPathComponent("failed.txt"), encoding: .utf8)
        #expect(groupFailure.hasPrefix("seed 1 failed after 0 of 2 seeds finished: training diverged"), "\(groupFailure)")
        for row in table.dropFirst().dropLast() {
            #expect(row[2] == "ok" && row[3] == "2")
            // The group's directory, and its mean, not the first seed's.
            let group = URL(fileURLWithPath: row[14])
            #expect(group.lastPathComponent.hasSuffix("-x2"))
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: group.appendingPathComponent("summary.json"))) as! [String: Any]
            let accuracy = (summary["metrics"] as! [String: Any])["test_accuracy"] as! [String: Any]
            #expect(abs(Double(row[4])! - (accuracy["mean"] as! Double)) < 1e-12, "\(row) vs \(accuracy)")
            // Beside the mean, its seeds' standard deviation (test_accuracy_sd), as summary.json has it.
            #expect(abs(Double(row[12])! - (accuracy["std"] as! Double)) < 1e-12, "\(row) vs \(accuracy)")
        }
        let shard = try String(contentsOf: sweepDir.appendingPathComponent("shard-0-of-1.csv"), encoding: .utf8)
        #expect(shard.split(separator: "\n").count == 4 && shard.contains("trial-001,1.0e+30,failed,2,"))
        // The shard's table is never replaced: running it again is refused.
        #expect(throws: HarnessError.self) { try SweepRunner.run(sweep, shard: Shard(index: 0, count: 1), root: root.path, log: { _ in }) }
        #expect(try String(contentsOf: sweepDir.appendingPathComponent("shard-0-of-1.csv"), encoding: .utf8) == shard)
    }

    /// A running shard holds a claim (flock on shard-i-of-n.lock): a second copy of it, or a
    /// shard of another split, is refused before any trial runs; so is a run beside the
    /// results of another split. A claim left by a process that ended blocks nothing.
    @Test func aShardRunsOnceAndInOneSplit() throws {
        let dir = temporary("sweep-claim")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try quickExperiment(in: dir)
        let sweepFile = dir.appendingPathComponent("sweep.yaml")
        try "name: claimed\nbase: quick.yaml\ngrid:\n  training.optimizer.learning_rate: [0.001, 0.002]\n"
            .write(to: sweepFile, atomically: true, encoding: .utf8)
        let sweep = try Sweep.load(file: sweepFile.path)
        let root = dir.appendingPathComponent("Results")
        let sweepDir = root.appendingPathComponent("claimed")
        try FileManager.default.createDirectory(at: sweepDir, withIntermediateDirectories: true)
        func runs() -> [String] {  // trials/<trial>/<run>
            ((try? FileManager.default.subpathsOfDirectory(atPath: sweepDir.appendingPathComponent("trials").path)) ?? [])
                .filter { $0.split(separator: "/").count == 2 }
        }
        func refusal(_ shard: Shard) -> String {
            do { _ = try SweepRunner.run(sweep, shard: shard, root: root.path, log: { _ in }); return "ran" } catch { return "\(error)" }
        }

        // Results of another split: refused before the first trial, not when collecting.
        let other = sweepDir.appendingPathComponent("shard-0-of-2.csv")
        try "trial\n".write(to: other, atomically: true, encoding: .utf8)
        #expect(refusal(Shard(index: 0, count: 1)).contains("holds results of this sweep split into 2 shards"))
        #expect(runs().isEmpty)
        try FileManager.default.removeItem(at: other)

        // Another process running this shard (here: a lock held on another descriptor).
        let lock = sweepDir.appendingPathComponent("shard-0-of-1.lock").path
        let held = open(lock, O_RDWR | O_CREAT, 0o644)
        #expect(held >= 0 && flock(held, LOCK_EX | LOCK_NB) == 0)
        #expect(refusal(Shard(index: 0, count: 1)).contains("shard 0/1 of this sweep is running in another process"))
        #expect(refusal(Shard(index: 1, count: 2)).contains("shard 0/1 of this sweep is running in another process"))
        #expect(runs().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sweepDir.appendingPathComponent("shard-0-of-1.csv").path))
        // Collecting meanwhile names the shard still running.
        let early: String = { do { _ = try SweepRunner.collect(sweep, root: root.path, log: { _ in }); return "collected" } catch { return "\(error)" } }()
        #expect(early.contains("no shard results yet") && early.contains("still running: shard 0/1"), "\(early)")
        close(held)  // as when that process ends, however it ends

        // The lock file left behind blocks nothing.
        let outcome = try SweepRunner.run(sweep, shard: Shard(index: 0, count: 1), root: root.path, log: { _ in })
        #expect(outcome.failed.isEmpty)
        #expect(runs().count == 2)
        let shard = try String(contentsOf: sweepDir.appendingPathComponent("shard-0-of-1.csv"), encoding: .utf8)
        #expect(refusal(Shard(index: 0, count: 1)).contains("this shard already ran"))
        #expect(refusal(Shard(index: 0, count: 2)).contains("holds the results of this sweep run in one go"))
        #expect(try String(contentsOf: sweepDir.appendingPathComponent("shard-0-of-1.csv"), encoding: .utf8) == shard)
        #expect(runs().count == 2)
    }

    @Test func resultsIndexHasOneRowPerExperiment() throws {
        let dir = temporary("index")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let results = dir.appendingPathComponent("Results")
        for seed in [1, 2] as [UInt64] {
            _ = try Runner.run(try Experiment.load(file: file.path, overrides: Overrides(seed: seed)), resultsRoot: results.path, log: { _ in }, liveProgress: false)
        }
        var (written, skipped) = try ResultsIndex.write(root: results.path)
        var csv = try String(contentsOf: written[0], encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 2 && skipped.isEmpty)
        #expect(csv[1].hasPrefix("quick,,2,"))

        // Damaged or unfinished metrics are left out and named, not counted as runs.
        let bad: [(String, String)] = [("truncated", "{\"test_accuracy\": 0.9"), ("array", "[1, 2]"), ("text", "{\"test_accuracy\": \"high\"}"),
                                       ("range", "{\"test_accuracy\": 1.5}"), ("empty", "")]
        for (name, text) in bad {
            let run = results.appendingPathComponent("quick/bad-\(name)")
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: run.appendingPathComponent("metrics.json"))
        }
        let failed = results.appendingPathComponent("quick/bad-failed")
        try FileManager.default.createDirectory(at: failed, withIntermediateDirectories: true)
        try Data("{\"test_accuracy\": 0.5}".utf8).write(to: failed.appendingPathComponent("metrics.json"))
        try Data("interrupted\n".utf8).write(to: failed.appendingPathComponent("failed.txt"))
        (written, skipped) = try ResultsIndex.write(root: results.path)
        csv = try String(contentsOf: written[0], encoding: .utf8).split(separator: "\n")
        #expect(csv[1].hasPrefix("quick,,2,"), "\(csv)")
        #expect(skipped.count == 6, "\(skipped)")
        for (fragment, why) in [("bad-truncated", "not valid JSON"), ("bad-array", "not a JSON object"), ("bad-text", "test_accuracy is not a number"),
                                ("bad-range", "outside [0, 1]"), ("bad-empty", "not valid JSON"), ("bad-failed", "did not finish")] {
            #expect(skipped.contains { $0.contains(fragment) && $0.contains(why) }, "\(fragment): \(skipped)")
        }
        #expect(throws: HarnessError.self) { try ResultsIndex.write(root: "") }
    }

    @Test func seed003ExperimentsSelectTheThreeClasses() throws {
        for name in ["three_class", "three_class_50_50"] {
            let e = try Experiment.load(file: Self.root.appendingPathComponent("Experiments/\(name).yaml").path)
            #expect(e.data.classes == [2, 3, 6])
            #expect(e.repeats == 5)
            let plan = try RunPlan(experiment: e)
            #expect(plan.train.classNames == ["Pullover", "Dress", "Shirt"])
            let n = plan.train.count + (plan.validation?.count ?? 0)
            #expect(n == 18_000)
            #expect(plan.test.count == 3_000)
            let fraction = Double(plan.validation!.count) / Double(n)
            #expect(abs(fraction - (name == "three_class" ? 0.2 : 0.5)) < 0.001)
        }
        for file in ["model_2_optimizers", "three_class_optimizers"] {
            let sweep = try Sweep.load(file: Self.root.appendingPathComponent("Experiments/sweeps/\(file).yaml").path)
            #expect(sweep.trials.count == 6)
            for t in sweep.trials { _ = try RunPlan(experiment: try sweep.experiment(for: t), loadData: false) }
        }
    }
}

@Suite struct SweepFileTests {
    /// A directory with `base.yaml` (a small classifier, validation `first 100`).
    static func directory(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try ExperimentFileTests.valid.write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        return dir
    }

    /// Writes `text` as `s.yaml` in `dir`; the error of loading it (and checking its metric), or "no error".
    static func sweepError(_ text: String, in dir: URL) -> String {
        let file = dir.appendingPathComponent("s.yaml")
        do {
            try text.write(to: file, atomically: true, encoding: .utf8)
            try Sweep.load(file: file.path).checkMetric()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    /// Mistakes in a sweep file that used to surface only later (as a trial's failure, an
    /// invalid file name, an empty value in the table) or never (a value with no effect) are
    /// errors at their line before anything runs.
    @Test func sweepFileMistakesAreErrorsAtTheirLine() throws {
        let dir = try Self.directory("sweep-lines")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = dir.appendingPathComponent("s.yaml").path
        let cases: [(String, String)] = [
            // The base must be a file; a directory failed later as "<dir>:0: cannot be read".
            ("base: \(dir.path)\ngrid: {training.epochs: [1]}\n", "\(p):1: base names \(dir.path), which is a directory"),
            // Names are capped like experiment names (a directory name longer than the system takes failed once writing).
            ("name: \(String(repeating: "x", count: 101))\nbase: base.yaml\ngrid: {training.epochs: [1]}\n", "\(p):1: name must be 1–100 letters"),
            // Keys the sweep sets itself would be dropped without a word.
            ("base: base.yaml\ngrid:\n  training.epochs: [1]\n  name: [a, b]\n", "\(p):4: grid.name is set by the sweep"),
            ("base: base.yaml\ngrid:\n  output.directory: [/x]\n", "\(p):3: grid.output.directory is set by the sweep"),
            ("base: base.yaml\nset:\n  output: {directory: /x}\ngrid: {training.epochs: [1]}\n", "\(p):3: set.output gives output.directory"),
            ("base: base.yaml\nrandom:\n  trials: 2\n  space:\n    name: {choice: [a, b]}\n", "\(p):5: random.space.name is set by the sweep"),
            // A key in set: and again in grid: (or a grid key above it) would replace set's value.
            ("base: base.yaml\nset: {training.epochs: 1}\ngrid:\n  training.epochs: [2]\n", "\(p):4: grid.training.epochs is also given in set: (line 2)"),
            ("base: base.yaml\nset:\n  training.optimizer.learning_rate: 0.1\ngrid:\n  training.optimizer: [adam]\n",
             "\(p):5: grid.training.optimizer replaces set:'s training.optimizer.learning_rate (line 3)"),
            // Random bounds that are infinite, or whose width is, gave every draw inf or NaN.
            ("base: base.yaml\nrandom:\n  trials: 2\n  space:\n    training.optimizer.learning_rate: {uniform: [0, .inf]}\n",
             "\(p):5: random.space.training.optimizer.learning_rate needs finite bounds"),
            ("base: base.yaml\nrandom:\n  trials: 2\n  space:\n    training.optimizer.learning_rate: {uniform: [-1e308, 1e308]}\n",
             "\(p):5: random.space.training.optimizer.learning_rate needs finite bounds"),
            ("base: base.yaml\nrandom:\n  trials: 2\n  space:\n    training.optimizer.learning_rate: {log_uniform: [0.001, .inf]}\n",
             "\(p):5: random.space.training.optimizer.learning_rate needs finite bounds"),
            ("base: base.yaml\nrandom:\n  trials: 2\n  space:\n    training.batch_size: {int_uniform: [-9223372036854775807, 9223372036854775807]}\n",
             "\(p):5: random.space.training.batch_size spans more integers"),
            // A metric some trial cannot produce: reported at the metric: line, not as an empty "best".
            ("base: base.yaml\nmetric: best_val_accuracy\ngrid:\n  data.validation: [first 100, none]\n",
             "\(p):2: metric is best_val_accuracy, but trial-001 (data.validation = none) has no validation set"),
            ("base: base.yaml\nmetric: test_accuracy\nset:\n  training.targets: inputs\n  training.loss: mse\n  training.callbacks: []\n"
                + "  model.layers: [{type: Flatten}, {type: Dense, units: 784, activation: sigmoid}, {type: Reshape, target_shape: [28, 28, 1]}]\n"
                + "grid: {training.epochs: [1]}\n",
             "\(p):2: metric is test_accuracy, but trial-000 (training.epochs = 1) reconstructs its input"),
            ("base: base.yaml\nmetric: test_reconstruction_mse\ngrid: {training.epochs: [1]}\n",
             "\(p):2: metric is test_reconstruction_mse, but trial-000 (training.epochs = 1) is a classifier"),
        ]
        for (text, expected) in cases {
            let message = Self.sweepError(text, in: dir)
            #expect(message.hasPrefix(expected), "\(text)→ \(message)")
        }
        // What is allowed stays allowed: other output keys, a set: value below a grid key is
        // not replaced when the grid key is deeper, finite wide bounds, a metric every trial has.
        for text in ["base: base.yaml\ngrid:\n  output.charts: [false]\n",
                     "base: base.yaml\nset: {training.optimizer: {name: adam}}\ngrid:\n  training.optimizer.learning_rate: [0.001, 0.01]\n",
                     "base: base.yaml\nmetric: best_val_loss\nrandom:\n  trials: 2\n  space:\n    training.optimizer.learning_rate: {uniform: [0.0001, 0.01]}\n"] {
            #expect(Self.sweepError(text, in: dir) == "no error", "\(text)")
        }
    }

    /// A metric that some trial cannot produce stops the sweep before anything is written
    /// (it printed "best trial-000 with test_accuracy " and exited 0), whatever the shard.
    @Test func aMetricSomeTrialLacksStopsTheSweepBeforeItStarts() throws {
        let dir = try Self.directory("sweep-metric")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("s.yaml")
        try "base: base.yaml\nmetric: best_val_accuracy\ngrid:\n  data.validation: [first 100, none]\n".write(to: file, atomically: true, encoding: .utf8)
        let results = dir.appendingPathComponent("Results")
        for shard in [Shard(index: 0, count: 1), Shard(index: 0, count: 2)] {
            do {
                _ = try SweepRunner.run(try Sweep.load(file: file.path), shard: shard, root: results.path, log: { _ in })
                Issue.record("ran")
            } catch {
                #expect("\(error)".hasPrefix("\(file.path):2: metric is best_val_accuracy, but trial-001"), "\(error)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: results.path))
    }

    /// The base is found from the sweep file's own directory also when the sweep file is
    /// named by a relative path (Foundation dropped the `..` of `sw/../base.yaml`).
    @Test func relativeSweepPathsFindTheirBase() throws {
        let dir = try Self.directory("sweep-relative")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sub = dir.appendingPathComponent("sw")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try "base: ../base.yaml\ngrid: {training.epochs: [1]}\n".write(to: sub.appendingPathComponent("s.yaml"), atomically: true, encoding: .utf8)
        // The same file by a path relative to the working directory: as many ".." as it is deep.
        let depth = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardized.pathComponents.count - 1
        let relative = String(repeating: "../", count: depth) + String(sub.appendingPathComponent("s.yaml").standardized.path.dropFirst())
        let sweep = try Sweep.load(file: relative)
        #expect(sweep.base == dir.appendingPathComponent("base.yaml").standardized.path)
    }

    /// `--collect` ranks only trials with a value: failed trials (and any without the metric)
    /// come last, in trial order, and are never "best"; failed ones are returned by name. A
    /// shard of an edited sweep file (same name, other values) is refused, naming the shard
    /// file and the trial.
    @Test func collectRanksOnlyValuesAndRefusesStaleShards() throws {
        let dir = try Self.directory("sweep-collect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("s.yaml")
        func write(_ rates: String) throws {
            try "name: c\nbase: base.yaml\nmetric: test_accuracy\ngrid:\n  training.optimizer.learning_rate: [\(rates)]\n"
                .write(to: file, atomically: true, encoding: .utf8)
        }
        try write("0.001, 0.002, 0.003, 0.004")
        let root = dir.appendingPathComponent("Results")
        let sweepDir = root.appendingPathComponent("c")
        try FileManager.default.createDirectory(at: sweepDir, withIntermediateDirectories: true)
        let header = "trial,training.optimizer.learning_rate,status,seeds,test_accuracy,test_loss,test_reconstruction_mse,best_val_accuracy,"
            + "final_val_accuracy,best_val_loss,final_val_loss,epochs_run,test_accuracy_sd,train_seconds,run_directory,settings,error\n"
        // Each trial's fingerprint, as a shard records it.
        let sweep = try Sweep.load(file: file.path)
        let fp = try sweep.trials.map { RunSettings.fingerprint(RunSettings.of(try sweep.experiment(for: $0), keepingSeed: true)) }
        try (header + "trial-000,0.001,ok,1,0.5,1.2,,0.5,0.5,1.1,1.1,2,,1.000,/r/0,\(fp[0]),\n"
                    + "trial-002,0.003,failed,1,,,,,,,,,,,/r/2,\(fp[2]),\"training diverged in epoch 1: the loss is not finite\"\n")
            .write(to: sweepDir.appendingPathComponent("shard-0-of-2.csv"), atomically: true, encoding: .utf8)
        try (header + "trial-001,0.002,ok,1,0.7,1.0,,0.6,0.6,1.0,1.0,2,,1.000,/r/1,\(fp[1]),\n"
                    + "trial-003,0.004,ok,1,,1.3,,,,,,2,,1.000,/r/3,\(fp[3]),\n")
            .write(to: sweepDir.appendingPathComponent("shard-1-of-2.csv"), atomically: true, encoding: .utf8)
        var lines: [String] = []
        let outcome = try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { lines.append($0) })
        let table = try String(contentsOf: sweepDir.appendingPathComponent("sweep.csv"), encoding: .utf8).split(separator: "\n")
        #expect(table.dropFirst().map { String($0.prefix(9)) } == ["trial-001", "trial-000", "trial-002", "trial-003"])
        #expect(table[3].hasPrefix("trial-002,0.003,failed,1,,"))
        #expect(outcome.failed == ["trial-002 (training.optimizer.learning_rate = 0.003): training diverged in epoch 1: the loss is not finite"])
        #expect(lines.last?.contains("4 trials (1 failed); best trial-001 with test_accuracy 0.7;") == true, "\(lines)")
        let runs = try String(contentsOf: sweepDir.appendingPathComponent("sweep_runs.csv"), encoding: .utf8)
        #expect(runs.contains("\ntrial-002,0.003,failed,1,,,,,,,,,,,/r/2,\(fp[2]),training diverged in epoch 1: the loss is not finite\n"))

        // Rows a shard run never writes: an edited or damaged shard is refused, named.
        let shard0 = sweepDir.appendingPathComponent("shard-0-of-2.csv")
        let sound = try String(contentsOf: shard0, encoding: .utf8)
        for (old, new, problem) in [("ok,1,0.5,1.2", "ok,1,abc,1.2", "has test_accuracy = 'abc', not a finite number"),
                                  ("ok,1,0.5,1.2", "ok,1,5.0,1.2", "has test_accuracy = 5.0, outside [0, 1]"),
                                  ("ok,1,0.5,1.2", "ok,0,0.5,1.2", "has seeds = '0'"),
                                  ("0.003,failed,1,,", "0.003,failed,1,0.9,", "failed but has test_accuracy = '0.9'"),
                                  ("0.003,failed,", "0.003,ok,", "is ok but has an error"),
                                  ("\"training diverged in epoch 1: the loss is not finite\"", "", "failed but gives no reason")] {
            try sound.replacingOccurrences(of: old, with: new).write(to: shard0, atomically: true, encoding: .utf8)
            #expect { try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { _ in }) } throws: {
                "\($0)".hasPrefix("\(shard0.path): trial-00") && "\($0)".contains(problem)
            }
        }
        try (sound + sound.split(separator: "\n")[1] + "\n").write(to: shard0, atomically: true, encoding: .utf8)
        #expect { try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { _ in }) } throws: { "\($0)".contains("trial-000 appears twice in it") }
        try Data().write(to: shard0)
        #expect { try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { _ in }) } throws: { "\($0)".hasPrefix("\(shard0.path) cannot be read as a shard's CSV") }
        try sound.write(to: shard0, atomically: true, encoding: .utf8)

        // No trial with a value: nothing is called best.
        try FileManager.default.removeItem(at: sweepDir.appendingPathComponent("shard-1-of-2.csv"))
        try (header + "trial-001,0.002,failed,1,,,,,,,,,,,/r/1,\(fp[1]),diverged\ntrial-003,0.004,failed,1,,,,,,,,,,,/r/3,\(fp[3]),diverged\n")
            .write(to: sweepDir.appendingPathComponent("shard-1-of-2.csv"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: sweepDir.appendingPathComponent("shard-0-of-2.csv"))
        try (header + "trial-000,0.001,failed,1,,,,,,,,,,,/r/0,\(fp[0]),diverged\ntrial-002,0.003,failed,1,,,,,,,,,,,/r/2,\(fp[2]),diverged\n")
            .write(to: sweepDir.appendingPathComponent("shard-0-of-2.csv"), atomically: true, encoding: .utf8)
        lines = []
        #expect(try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { lines.append($0) }).failed.count == 4)
        #expect(lines.last?.contains("no trial has a value of test_accuracy") == true, "\(lines)")

        // The grid edited under the same name: the shards ran other values.
        try write("0.001, 0.02, 0.003, 0.004")
        do {
            try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { _ in })
            Issue.record("a shard of other values was collected")
        } catch {
            #expect("\(error)".hasPrefix("\(sweepDir.path)/shard-1-of-2.csv: trial-001 ran with training.optimizer.learning_rate = 0.002, but \(file.path):5 now gives 0.02"), "\(error)")
        }

        // The same values, but `set:` edited: the trials' settings differ from what ran.
        try "name: c\nbase: base.yaml\nmetric: test_accuracy\nset: {training.epochs: 3}\ngrid:\n  training.optimizer.learning_rate: [0.001, 0.002, 0.003, 0.004]\n"
            .write(to: file, atomically: true, encoding: .utf8)
        do {
            try SweepRunner.collect(try Sweep.load(file: file.path), root: root.path, log: { _ in })
            Issue.record("a shard of other settings was collected")
        } catch {
            #expect("\(error)".contains("trial-000 ran with other settings than"), "\(error)")
        }
    }

    /// A shard count above the number of trials would run nothing and write an empty table:
    /// refused before anything is written.
    @Test func moreShardsThanTrialsAreRefused() throws {
        let dir = try Self.directory("sweep-shards")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("s.yaml")
        try "name: m\nbase: base.yaml\ngrid: {training.optimizer.learning_rate: [0.001, 0.002, 0.003]}\n".write(to: file, atomically: true, encoding: .utf8)
        let results = dir.appendingPathComponent("Results")
        do {
            _ = try SweepRunner.run(try Sweep.load(file: file.path), shard: Shard(index: 5, count: 10), root: results.path, log: { _ in })
            Issue.record("shard 5/10 of 3 trials ran")
        } catch {
            #expect("\(error)".contains("has 3 trials, so it splits into at most 3 shards"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: results.path))
    }

    @Test func keyPathsPatchNestedValues() throws {
        let node = try Yams.compose(yaml: "a: {b: 1}\nlist: [{x: 1}, {x: 2}]\n")!
        let patched = try NodePatch.set(try NodePatch.set(node, path: "a.b", to: Node("5", Tag(.int))), path: "list[1].x", to: Node("7", Tag(.int)))
        let text = try Yams.serialize(node: patched)
        #expect(text.contains("b: 5") && text.contains("x: 7") && text.contains("x: 1"))
        let created = try NodePatch.set(node, path: "c.d", to: Node("hi"))
        #expect(try Yams.serialize(node: created).contains("d: hi"))
        #expect(throws: PatchError.self) { try NodePatch.set(node, path: "list[5].x", to: Node("1")) }
        #expect(throws: PatchError.self) { try NodePatch.set(node, path: "a.b.c", to: Node("1")) }
        #expect(NodePatch.components("a..b") == nil && NodePatch.components("a[x]") == nil)
    }

    @Test func slurmVariablesChooseTheShard() throws {
        #expect(try Shard.fromSlurm(["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3"]) == Shard(index: 2, count: 3))
        #expect(try Shard.fromSlurm(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"]) == Shard(index: 2, count: 3))
        #expect(try Shard.fromSlurm([:]) == nil)
        // An array that is not a plain range (--array=1,3,5), or garbage: an error, not every trial in every task.
        for env in [["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"],
                    ["SLURM_ARRAY_TASK_ID": "abc", "SLURM_ARRAY_TASK_COUNT": "3"], ["SLURM_ARRAY_TASK_ID": "1"]] {
            #expect(throws: HarnessError.self, "\(env)") { try Shard.fromSlurm(env) }
        }
        #expect(Shard.parse("1/3") == Shard(index: 1, count: 3))
        #expect(Shard.parse("3/3") == nil && Shard.parse("x") == nil && Shard.parse("0/0") == nil)
    }

    @Test func randomSweepsAreSeeded() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-random-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "model: {layers: [{type: Flatten}, {type: Dense, units: 10, activation: softmax}]}\n"
            .write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let text = """
        base: base.yaml
        random:
          trials: 6
          seed: 4
          space:
            training.optimizer.learning_rate: {log_uniform: [0.0001, 0.01]}
            training.batch_size: {choice: [32, 64]}
        """
        try text.write(to: dir.appendingPathComponent("s.yaml"), atomically: true, encoding: .utf8)
        let a = try Sweep.load(file: dir.appendingPathComponent("s.yaml").path)
        let b = try Sweep.load(file: dir.appendingPathComponent("s.yaml").path)
        #expect(a.trials.count == 6)
        #expect(a.trials.map { $0.values.map(\.1) } == b.trials.map { $0.values.map(\.1) })
        for t in a.trials {
            let lr = Double(t.values[0].1)!
            #expect(lr >= 0.0001 && lr <= 0.01)
            #expect(["32", "64"].contains(t.values[1].1))
        }
        try "base: base.yaml\ngrid: {training.optimizer.learning_rate: []}\n".write(to: dir.appendingPathComponent("bad.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try Sweep.load(file: dir.appendingPathComponent("bad.yaml").path) }
    }
}
