import Foundation
import Testing
import Yams
import FashionConfig
import FashionData
import FashionExperiments
import FashionNN
import FashionReports
import FashionStats

/// What a hostile review of comparisons, the results index, replay and weights found (the
/// thirteenth review, 2026-11-30), each pinned down: part of the workflow suite, so it shares its
/// experiment and the real Fashion-MNIST.
extension ResultsWorkflowTests {
    /// A 5x2cv fold trains as a run does: with the experiment's augmentation (it was dropped).
    /// Starting weights trained on the whole training set would be tested on, so init_from is
    /// refused; so is a class too small to appear in both halves.
    @Test func fiveByTwoFoldsTrainAsRunsDo() throws {
        let dir = temporary("5x2cv-augmentation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let plain = Compare.withoutSplit(try Experiment.load(file: file.path))
        let augmented = Compare.withoutSplit(try Experiment.load(file: file.path, patches: [
            ("data.augmentation", try Yams.compose(yaml: "{rotation_range: 180, horizontal_flip: true, vertical_flip: true, fill_mode: constant, cval: 255}")!),
        ]))
        var (all, _, _) = try RunPlan.loadDataset(plain)
        all = all.subset(Array(0..<400))
        let train = all.subset(Array(0..<200)), test = all.subset(Array(200..<400))
        #expect(try Compare.errorRate(augmented, train: train, test: test) != Compare.errorRate(plain, train: train, test: test))

        let started = try Experiment.load(file: file.path, patches: [("training.init_from", Node("/nonexistent/weights.h5"))])
        #expect { try Compare.fiveByTwoData(plain, started, limit: 100) } throws: { "\($0)".contains("from scratch") }
        #expect { try Compare.fiveByTwoData(plain, plain, limit: 4) } throws: { "\($0)".contains("at least 2 examples") }
        #expect(try Compare.fiveByTwoData(plain, plain, limit: 100).count == 100)
    }

    /// McNemar pairs rows by position, so predictions.csv must be the run's, whole and in order.
    @Test func mcnemarReadsOnlyIntactPredictions() throws {
        let dir = temporary("mcnemar-intact")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let results = dir.appendingPathComponent("Results").path
        let run = try Runner.run(try Experiment.load(file: file.path), resultsRoot: results, log: { _ in }, liveProgress: false).directory
        let fm = FileManager.default
        let original = try String(contentsOf: run.appendingPathComponent("predictions.csv"), encoding: .utf8)
        let lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func compareWith(_ edited: [String], metrics: String? = nil) throws -> String {
            let copy = dir.appendingPathComponent("copy-\(UUID().uuidString.prefix(6))")
            try fm.copyItem(at: run, to: copy)
            try edited.joined(separator: "\n").write(to: copy.appendingPathComponent("predictions.csv"), atomically: true, encoding: .utf8)
            if let metrics { try metrics.write(to: copy.appendingPathComponent("metrics.json"), atomically: true, encoding: .utf8) }
            do { _ = try Compare.mcnemar(runA: run.path, runB: copy.path); return "accepted" } catch { return "\(error)" }
        }
        #expect(try compareWith(lines) == "accepted")
        // A predicted label edited without its name; a name moved to another label.
        var fields = lines[5].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        fields[3] = "99"
        var edited = lines
        edited[5] = fields.joined(separator: ",")
        #expect(try compareWith(edited).contains("is label"))
        // Two rows swapped, a row repeated, the file cut short, a negative label.
        edited = lines
        edited.swapAt(3, 4)
        #expect(try compareWith(edited).contains("where 2 belongs"))
        edited = lines
        edited[4] = edited[3]
        #expect(try compareWith(edited).contains("where 3 belongs"))
        #expect(try compareWith(Array(lines.prefix(100))).contains("has 99 rows, but the run tested 300"))
        fields[3] = "-5"
        edited = lines
        edited[5] = fields.joined(separator: ",")
        #expect(try compareWith(edited).contains("non-negative integer labels"))
        // An empty metrics.json is no finished run.
        #expect(try compareWith(lines, metrics: "").contains("not a JSON object"))
    }

    /// A `--set` that creates a key the file does not have is the option's mistake, even when
    /// the error is about the key it created above the leaf.
    @Test func setErrorsNameTheOption() throws {
        let dir = temporary("set-origin")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        for path in ["training.nonexistent.foo", "model.layers[1].bogus.x", "bogus.x"] {
            #expect {
                try Experiment.load(file: file.path, patches: [(path, Node("1", Tag(.int)))], patchOrigins: ["--set \(path)=1"])
            } throws: { error in
                (error as? ConfigError)?.origin == "--set \(path)=1"
            }
        }
    }

    /// Seeds are recorded as signed 64-bit integers; one that does not fit (or whose repeats
    /// would run past it) is refused, not wrapped to a negative number.
    @Test func seedsMustFitInSixtyFourBits() throws {
        let dir = temporary("seed-range")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        #expect { try Experiment.load(file: file.path, overrides: Overrides(seed: UInt64.max)) } throws: {
            ($0 as? ConfigError)?.origin == "--seed \(UInt64.max)"
        }
        #expect { try Experiment.load(file: file.path, overrides: Overrides(seed: UInt64(Int.max), repeats: 2)) } throws: {
            "\($0)".contains("at most \(Int.max - 1) with 2 repeats")
        }
        #expect(try Experiment.load(file: file.path, overrides: Overrides(seed: UInt64(Int.max))).seed == UInt64(Int.max))
        var text = try String(contentsOf: file, encoding: .utf8)
        text = text.replacingOccurrences(of: "seed: 1\n", with: "seed: 18446744073709551615\n")
        try text.write(to: file, atomically: true, encoding: .utf8)
        #expect { try Experiment.load(file: file.path) } throws: { "\($0)".contains("quick.yaml:2: seed must be a non-negative integer up to \(Int.max)") }
    }

    /// Names the results directory uses for itself cannot be experiments'.
    @Test func reservedExperimentNames() throws {
        let dir = temporary("reserved-names")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        for name in ["index.md", "index.csv", "index.html", "sweeps", "comparisons"] {
            #expect { try Experiment.load(file: file.path, patches: [("name", Node(name))], patchOrigins: ["--set name=\(name)"]) } throws: {
                "\($0)".contains("is reserved")
            }
        }
    }

    /// Replay fails like a run: inputs that are not finite are refused, and a step whose loss or
    /// weights are not finite ends it with failed.txt.
    @Test func replayStopsAtDivergence() throws {
        let dir = temporary("replay-divergence")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let e = try Experiment.load(file: file.path)
        let plan = try RunPlan(experiment: e, data: nil)
        let weights = dir.appendingPathComponent("w.h5")
        try ModelWeights.save(plan.model, to: weights)
        let batch = e.training.batchSize, size = 28 * 28
        var x = (0..<(2 * batch * size)).map { Float($0 % 251) / 251 }
        let y = (0..<(2 * batch)).map { Int32($0 % 10) }
        let labels = dir.appendingPathComponent("y.i32")
        try y.withUnsafeBytes { try Data($0).write(to: labels) }
        func replay(_ e: Experiment, _ x: [Float], output: String) throws -> Replay.Result {
            let inputs = dir.appendingPathComponent("x-\(output).f32")
            try x.withUnsafeBytes { try Data($0).write(to: inputs) }
            return try Replay.run(e, weights: weights, inputs: inputs, labels: labels, steps: 4, saveAt: [3], output: dir.appendingPathComponent(output))
        }
        #expect(try replay(e, x, output: "fine").losses.count == 4)
        x[batch * size + 7] = .nan
        #expect { try replay(e, x, output: "nan") } throws: { "\($0)".contains("value 7 of sample \(batch) is not finite") }
        x[batch * size + 7] = 0
        let exploding = try Experiment.load(file: file.path, patches: [("training.optimizer", try Yams.compose(yaml: "{name: adam, learning_rate: 1.0e+30}")!)])
        #expect { try replay(exploding, x, output: "diverged") } throws: { "\($0)".contains("replay diverged at step") }
        let failed = try String(contentsOf: dir.appendingPathComponent("diverged/failed.txt"), encoding: .utf8)
        #expect(failed.hasPrefix("replay diverged at step"))
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("diverged/weights_3.h5").path), "\(failed)")
    }

    /// A weights file with datasets this model lacks is another model's; a float64 value that
    /// float32 cannot hold is refused, not turned into 0.
    @Test func weightsMustBeThisModelsAndFitFloat32() throws {
        let dir = temporary("weights-fit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let model = try RunPlan(experiment: try Experiment.load(file: file.path), data: nil).model
        func write(_ name: String, extra: Bool = false, tiny: Bool = false) throws -> URL {
            let url = dir.appendingPathComponent(name)
            let h5 = try HDF5Writer(path: url.path)
            for layer in model.layers {
                for p in layer.parameters {
                    var values = p.value.array.map(Double.init)
                    if tiny, !values.isEmpty { values[values.count / 2] = 1e-300 }
                    try h5.write("\(layer.name)/\(p.name)", doubles: values)
                }
            }
            if extra { try h5.write("dense_9/kernel", floats: [1, 2, 3]) }
            try h5.close()
            return url
        }
        try ModelWeights.load(model, from: try write("wide.h5"))
        #expect { try ModelWeights.load(model, from: try write("extra.h5", extra: true)) } throws: { "\($0)".contains("holds dense_9/kernel, which this model") }
        #expect { try ModelWeights.load(model, from: try write("tiny.h5", tiny: true)) } throws: { "\($0)".contains("which float32 cannot hold") }
    }

    /// The index counts a run once however many links lead to it, names directories it cannot
    /// read, refuses impossible statistics, keeps runs of other settings in rows of their own,
    /// and writes nothing when one of its files cannot be replaced.
    @Test func resultsIndexCountsEachRunOnceAndApart() throws {
        let dir = temporary("index-apart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try quickExperiment(in: dir)
        let results = dir.appendingPathComponent("Results")
        let fm = FileManager.default
        let first = try Runner.run(try Experiment.load(file: file.path), resultsRoot: results.path, log: { _ in }, liveProgress: false).directory
        _ = try Runner.run(try Experiment.load(file: file.path, overrides: Overrides(seed: 2)), resultsRoot: results.path, log: { _ in }, liveProgress: false)
        _ = try Runner.run(try Experiment.load(file: file.path, patches: [("data.test_limit", Node("200", Tag(.int)))]),
                           resultsRoot: results.path, log: { _ in }, liveProgress: false)
        try fm.createSymbolicLink(atPath: results.appendingPathComponent("quick/latest").path, withDestinationPath: first.path)
        // A link to the experiment's folder under another name, sorting first: the runs are
        // still quick's, named by their metrics.json.
        try fm.createSymbolicLink(atPath: results.appendingPathComponent("a_alias").path, withDestinationPath: results.appendingPathComponent("quick").path)
        // A run of an older version, whose experiment.yaml lacks a key added since (filled with
        // its default when read), is the same experiment; one whose experiment.yaml is damaged
        // has unknown settings and is left out, named.
        let older = results.appendingPathComponent("quick/older")
        try fm.copyItem(at: first, to: older)
        let yaml = try String(contentsOf: older.appendingPathComponent("experiment.yaml"), encoding: .utf8)
        #expect(yaml.contains("  targets: labels\n"))
        try yaml.replacingOccurrences(of: "  targets: labels\n", with: "").write(to: older.appendingPathComponent("experiment.yaml"), atomically: true, encoding: .utf8)
        let damaged = results.appendingPathComponent("quick/damaged")
        try fm.copyItem(at: first, to: damaged)
        try "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\na1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\na2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\na3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\na4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\na5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\ndata: *a5\n"
            .write(to: damaged.appendingPathComponent("experiment.yaml"), atomically: true, encoding: .utf8)
        for (name, text) in [("null", "{\"test_accuracy\": null}"), ("negative", "{\"test_reconstruction_mse\": -5}"),
                             ("fraction", "{\"test_accuracy\": 0.5, \"params\": 1.5}")] {
            let run = results.appendingPathComponent("quick/bad-\(name)")
            try fm.createDirectory(at: run, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: run.appendingPathComponent("metrics.json"))
        }
        let (written, skipped) = try ResultsIndex.write(root: results.path)
        let csv = try String(contentsOf: written[0], encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3, "\(csv)")
        #expect(csv[1].hasPrefix("quick,data.test_limit=300,3,"), "\(csv)")
        #expect(csv[2].hasPrefix("quick,data.test_limit=200,1,"), "\(csv)")
        for (fragment, why) in [("bad-null", "has no test_accuracy"), ("bad-negative", "is negative"), ("bad-fraction", "params 1.5 is not a positive integer"),
                                ("damaged", "settings are unknown")] {
            #expect(skipped.contains { $0.contains(fragment) && $0.contains(why) }, "\(fragment): \(skipped)")
        }

        // A directory where index.md belongs: nothing is written, index.csv included.
        try fm.removeItem(at: written[1])
        try fm.createDirectory(at: written[1], withIntermediateDirectories: false)
        try fm.removeItem(at: written[0])
        #expect { try ResultsIndex.write(root: results.path) } throws: { "\($0)".contains("index.md") }
        #expect(!fm.fileExists(atPath: written[0].path))
    }

    @Test func confidenceLabels() {
        #expect(percentText(0.95) == "95")
        #expect(percentText(0.999) == "99.9")
        #expect(percentText(0.9999) == "99.99")
    }
}
