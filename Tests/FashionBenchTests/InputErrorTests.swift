import FashionConfig
@testable import FashionData
import FashionExperiments
import FashionReports
import Foundation
import Testing
import Yams

/// Bad input names where it was written (a sweep's line, a `--set` option), files the user
/// names are never replaced unless they are of the command's own kind, and unfinished runs
/// are not taken as inputs.
@Suite("Bad input: value origins, replaceable outputs, unfinished runs")
struct InputErrorTests {
    static func temporary(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-input-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A mistake in a patched value is reported where the value was written; a mistake in
    /// the file itself stays at its line even when other keys are patched.
    @Test func patchedValuesAreBlamedWhereTheyWereWritten() throws {
        let yaml = ExperimentFileTests.valid
        func message(_ patches: [(String, String)], origins: [String?]) -> String {
            do {
                _ = try Experiment.parse(yaml: yaml, file: "Experiments/x.yaml", patches: try patches.map { ($0.0, try Yams.compose(yaml: $0.1)!) },
                                         patchOrigins: origins)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message([("training.batch_size", "0")], origins: ["--set training.batch_size=0"])
                == "--set training.batch_size=0: training.batch_size must be a positive integer, got 0 (applied to Experiments/x.yaml)")
        #expect(message([("foo", "1")], origins: ["--set foo=1"]).hasPrefix("--set foo=1: foo is not a known key"))
        #expect(message([("training.optimizer", "{name: sgd}")], origins: ["sweeps/s.yaml:7 (trial-001)"])
                .hasPrefix("sweeps/s.yaml:7 (trial-001): training.optimizer.name must be one of adam, rmsprop"))
        // Later patches win: the last one at or above the key is blamed.
        #expect(message([("training.epochs", "3"), ("training.epochs", "-1")], origins: ["a", "b"]).hasPrefix("b: training.epochs"))
        #expect(message([("training.epochs", "3")], origins: ["--set training.epochs=3"]) == "no error")
        // A mistake elsewhere in the file keeps the file's own line.
        let broken = yaml.replacingOccurrences(of: "batch_size: 16", with: "batch_size: -16")
        do {
            _ = try Experiment.parse(yaml: broken, file: "Experiments/x.yaml", patches: [("training.epochs", Node("3"))], patchOrigins: ["--set training.epochs=3"])
            Issue.record("a negative batch size parsed")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix("Experiments/x.yaml:14: training.batch_size"), "\(e)")
        }
    }

    /// Mistakes found after parsing (building the plan, loading data) are blamed the same
    /// way, also in a repeat's re-read experiment; unpatched keys keep their own line.
    @Test func mistakesFoundAfterParsingAreBlamedWhereTheyWereWritten() throws {
        let yaml = """
        name: bn
        model:
          input_shape: [8, 8, 1]
          layers: [{type: Flatten}, {type: BatchNormalization}, {type: Dense, units: 10, activation: softmax}]
        training:
          batch_size: 8
          threads: 2
        """
        func message(_ patches: [(String, Node)], origins: [String?], seed: UInt64? = nil) -> String {
            do {
                var e = try Experiment.parse(yaml: yaml, file: "Experiments/bn.yaml", patches: patches, patchOrigins: origins)
                if let seed { e = try e.withSeed(seed) }
                _ = try RunPlan(experiment: e, loadData: false)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        let data = [("training.parallelism", Node("data"))]
        #expect(message(data, origins: ["--set training.parallelism=data"])
                .hasPrefix("--set training.parallelism=data: training.parallelism is data, but the model has BatchNormalization"))
        #expect(message(data, origins: ["sweeps/p.yaml:4 (trial-000)"], seed: 5).hasPrefix("sweeps/p.yaml:4 (trial-000): training.parallelism"))
        #expect(message(data, origins: [nil]).hasPrefix("Experiments/bn.yaml:"))
        let inFile = yaml.replacingOccurrences(of: "  threads: 2", with: "  threads: 2\n  parallelism: data")
        do {
            _ = try RunPlan(experiment: try Experiment.parse(yaml: inFile, file: "Experiments/bn.yaml", patches: [("training.epochs", Node("2"))],
                                                             patchOrigins: ["--set training.epochs=2"]), loadData: false)
            Issue.record("parallelism: data with BatchNormalization was accepted")
        } catch {
            #expect("\(error)".hasPrefix("Experiments/bn.yaml:8: training.parallelism is data"), "\(error)")
        }
    }

    /// `optimizer: {learning_rate: …}` (and `--set training.optimizer.learning_rate=…` on a file
    /// without an optimizer) tune the default optimizer, adam.
    @Test func optimizerNameDefaultsToAdam() throws {
        let yaml = ExperimentFileTests.valid.replacingOccurrences(of: "  optimizer: {name: rmsprop, learning_rate: 0.0001}\n", with: "")
        let patched = try Experiment.parse(yaml: yaml, file: "x.yaml", patches: [("training.optimizer.learning_rate", Node("0.003"))])
        #expect(patched.training.optimizerName == "adam" && abs(patched.training.learningRate - 0.003) < 1e-9)
        #expect(patched.resolvedYAML.contains("name: adam"))
    }

    /// Sweep values that break the base experiment are reported at the sweep file's line.
    @Test func sweepMistakesNameTheSweepLine() throws {
        let dir = try Self.temporary("sweep")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ExperimentFileTests.valid.write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("sweep.yaml")
        try "name: s\nbase: base.yaml\nset: {training.epochs: 1}\ngrid:\n  training.batch_size: [8, 0]\n".write(to: file, atomically: true, encoding: .utf8)
        let sweep = try Sweep.load(file: file.path)
        _ = try sweep.experiment(for: sweep.trials[0])
        do {
            _ = try sweep.experiment(for: sweep.trials[1])
            Issue.record("batch size 0 parsed")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix("\(file.path):5 (trial-001, training.batch_size = 0): training.batch_size must be a positive integer"), "\(e)")
        }
        // A mistake only the data shows stops the sweep before its first trial runs.
        try "name: s\nbase: base.yaml\nset: {training.epochs: 1}\ngrid:\n  data.validation: [first 100, first 70000]\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let results = dir.appendingPathComponent("Results").path
        do {
            _ = try SweepRunner.run(try Sweep.load(file: file.path), shard: Shard(index: 0, count: 1), root: results, log: { _ in })
            Issue.record("a validation part larger than the training set ran")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix("\(file.path):5 (trial-001, data.validation = first 70000): data.validation takes the first 70000 examples"), "\(e)")
        }
        #expect(!FileManager.default.fileExists(atPath: results))
    }

    /// A grid whose trial count overflows a 64-bit integer (19 axes of 10 values) is refused
    /// like any grid over the limit, not trapped on the multiplication.
    @Test func hugeGridsAreRefused() throws {
        let dir = try Self.temporary("grid")
        defer { try? FileManager.default.removeItem(at: dir) }
        try ExperimentFileTests.valid.write(to: dir.appendingPathComponent("base.yaml"), atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("sweep.yaml")
        let axes = (0..<19).map { "  description\($0 == 0 ? "" : "x\($0)"): [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" }
        for (count, expected) in [(19, "10 × 10 × 10"), (5, "(10 × 10 × 10 × 10 × 10)")] {
            try ("name: s\nbase: base.yaml\ngrid:\n" + axes.prefix(count).joined()).write(to: file, atomically: true, encoding: .utf8)
            do {
                _ = try Sweep.load(file: file.path)
                Issue.record("a grid of 10^\(count) trials loaded")
            } catch let e as ConfigError {
                #expect(e.description.hasPrefix("\(file.path):3: grid expands to more than 10,000 trials") && e.description.contains(expected), "\(e)")
            }
        }
    }

    @Test func outputFilesReplaceOnlyTheirOwnKind() throws {
        let dir = try Self.temporary("output")
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = PNGInfo.signature
        func check(_ path: String) -> String? {
            do { try OutputFile.checkReplaceable(path, signature: png, kind: "PNG"); return nil } catch { return "\(error)" }
        }
        #expect(check(dir.appendingPathComponent("new.png").path) == nil)
        try Data(png + [1, 2, 3]).write(to: dir.appendingPathComponent("old.png"))
        #expect(check(dir.appendingPathComponent("old.png").path) == nil)
        try Data("{}".utf8).write(to: dir.appendingPathComponent("metrics.json"))
        #expect(check(dir.appendingPathComponent("metrics.json").path)?.contains("is not a PNG file") == true)
        #expect(check(dir.appendingPathComponent("old.png").path)?.contains("in a run's directory") == true)
        #expect(check(dir.path)?.contains("not a regular file") == true)
        let fifo = dir.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(check(fifo)?.contains("not a regular file") == true)
        #expect(check("/dev/null")?.contains("not a regular file") == true)
        // Below a run's directory too: its charts are its results.
        let charts = dir.appendingPathComponent("charts")
        try FileManager.default.createDirectory(at: charts, withIntermediateDirectories: true)
        try Data(png + [1, 2, 3]).write(to: charts.appendingPathComponent("curves.png"))
        let run = dir.resolvingSymlinksInPath().path
        #expect(check(charts.appendingPathComponent("curves.png").path)?.contains("in a run's directory (\(run) holds metrics.json)") == true)
        // Nor a new file in it, nor a path through a symbolic link to it.
        #expect(check(charts.appendingPathComponent("new/deeper.png").path)?.contains("in a run's directory (\(run) holds metrics.json)") == true)
        let elsewhere = try Self.temporary("elsewhere")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        try FileManager.default.createSymbolicLink(at: elsewhere.appendingPathComponent("link"), withDestinationURL: charts)
        #expect(check(elsewhere.appendingPathComponent("link/curves.png").path)?.contains("in a run's directory (\(run) holds metrics.json)") == true)
        #expect(check(elsewhere.appendingPathComponent("preview.png").path) == nil)
    }

    /// Opening a FIFO for reading waits for a writer: every reader of data, cache, weights and
    /// results refuses one at once instead.
    @Test func fifosAreRefusedNotAwaited() throws {
        let dir = try Self.temporary("fifo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcomes: [String: String] = [:]
        Thread.detachNewThread {
            func outcome(_ body: () throws -> Void) -> String { do { try body(); return "read" } catch { return "\(error)" } }
            outcomes["image"] = outcome { _ = try ImageFile.read(fifo) }
            outcomes["idx"] = outcome { _ = try IDX.readBytes(path: fifo) }
            outcomes["hdf5"] = outcome { _ = try HDF5Reader(path: fifo) }
            if case let .damaged(why) = ProductCache.read(fifo, key: "k", shape: [1, 1, 3], classNames: []) { outcomes["cache"] = why }
            finished.signal()
        }
        #expect(finished.wait(timeout: .now() + 20) == .success, "a reader waited for a writer")
        #expect(outcomes["image"]?.contains("not a regular file") == true, "\(outcomes)")
        #expect(outcomes["idx"]?.contains("is a FIFO (named pipe), not a file") == true, "\(outcomes)")
        #expect(outcomes["hdf5"]?.contains("is a FIFO (named pipe), not a file") == true, "\(outcomes)")
        #expect(outcomes["cache"] == "is a FIFO (named pipe), not a file", "\(outcomes)")
    }

    @Test func unfinishedRunsAreNotInputs() throws {
        let dir = try Self.temporary("runs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("model_2/20260101-000000-seed0")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try Data().write(to: run.appendingPathComponent("weights.h5"))
        #expect(!FinishedRun.isFinished(run.path))
        #expect(throws: HarnessError.self) { try ModelWeights.resolve(run.path, resultsRoot: dir.path) }
        #expect(throws: HarnessError.self) { try ModelWeights.resolve("model_2", resultsRoot: dir.path) }
        try Data("{}".utf8).write(to: run.appendingPathComponent("metrics.json"))
        #expect(try ModelWeights.resolve("model_2", resultsRoot: dir.path).path == run.appendingPathComponent("weights.h5").path)
        try Data("interrupted: received SIGTERM\n".utf8).write(to: run.appendingPathComponent("failed.txt"))
        do {
            _ = try ModelWeights.resolve(run.path, resultsRoot: dir.path)
            Issue.record("a failed run's weights were used")
        } catch let e as HarnessError {
            #expect(e.description.contains("did not finish (failed.txt: interrupted: received SIGTERM)"), "\(e)")
        }
        #expect(throws: HarnessError.self) { try Compare.mcnemar(runA: run.path, runB: run.path) }
        // Naming the file itself is the way to start from it anyway.
        #expect(try ModelWeights.resolve(run.appendingPathComponent("weights.h5").path, resultsRoot: dir.path).lastPathComponent == "weights.h5")

        // A bare name is an experiment's, even beside a directory of that name here.
        let here = FileManager.default.currentDirectoryPath
        defer { FileManager.default.changeCurrentDirectoryPath(here) }
        FileManager.default.changeCurrentDirectoryPath(dir.path)
        try FileManager.default.removeItem(at: run.appendingPathComponent("failed.txt"))
        #expect(try ModelWeights.resolve("model_2", resultsRoot: dir.path).path == run.appendingPathComponent("weights.h5").path)
        do {
            _ = try ModelWeights.resolve("model_2", resultsRoot: dir.appendingPathComponent("elsewhere").path)
            Issue.record("model_2 resolved to the current directory's")
        } catch let e as HarnessError {
            #expect(e.description.contains("no finished run of model_2") && e.description.contains("write ./model_2"), "\(e)")
        }
    }

    /// An experiment name whose newest results are a group of repeats names one of its runs;
    /// an experiment naming itself with no run of its own is told so, not to run itself first;
    /// the file to run first is looked for beside the asking one.
    @Test func initFromNamesWhatToDo() throws {
        let dir = try Self.temporary("initfrom")
        defer { try? FileManager.default.removeItem(at: dir) }
        let older = dir.appendingPathComponent("base/20260101-000000-seed0")
        let group = dir.appendingPathComponent("base/20260102-000000-seed0-x2")
        for run in [older, group.appendingPathComponent("seed-0"), group.appendingPathComponent("seed-1")] {
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            try Data("{}".utf8).write(to: run.appendingPathComponent("metrics.json"))
            try Data().write(to: run.appendingPathComponent("weights.h5"))
        }
        do {
            _ = try ModelWeights.resolve("base", resultsRoot: dir.path)
            Issue.record("a repeats group was skipped for an older run")
        } catch let e as HarnessError {
            #expect(e.description.contains("the newest results of base are a group of repeats with 2 finished runs")
                    && e.description.contains("init_from: \(group.path)/seed-0/weights.h5"), "\(e)")
        }
        // A group none of whose runs finished is passed over, as an unfinished run is.
        for seed in ["seed-0", "seed-1"] { try FileManager.default.removeItem(at: group.appendingPathComponent("\(seed)/metrics.json")) }
        #expect(try ModelWeights.resolve("base", resultsRoot: dir.path).path == older.appendingPathComponent("weights.h5").path)

        do {
            _ = try ModelWeights.resolve("self", resultsRoot: dir.path, from: ("self", "Experiments/self.yaml"))
            Issue.record("no error")
        } catch let e as HarnessError {
            #expect(e.description.contains("init_from names this experiment itself (self)") && !e.description.contains("run its experiment first"), "\(e)")
        }
        let experiments = dir.appendingPathComponent("exp")
        try FileManager.default.createDirectory(at: experiments, withIntermediateDirectories: true)
        try Data().write(to: experiments.appendingPathComponent("first.yaml"))
        do {
            _ = try ModelWeights.resolve("first", resultsRoot: dir.path, from: ("second", experiments.appendingPathComponent("second.yaml").path))
            Issue.record("no error")
        } catch let e as HarnessError {
            #expect(e.description.contains("`fashionbench run \(experiments.path)/first.yaml`"), "\(e)")
        }
    }

    /// A group linked into itself (Fixtures/hdf5/link_cycle.h5) would be listed forever.
    @Test func aWeightsFileWithALinkCycleIsRefused() throws {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let reader = try HDF5Reader(path: base.appendingPathComponent("hdf5/link_cycle.h5").path)
        defer { reader.close() }
        do {
            _ = try reader.datasetNames()
            Issue.record("a link cycle was listed")
        } catch let e as HDF5Error {
            #expect(e.description.contains("link_cycle.h5 nests groups more than 32 deep"), "\(e)")
        }
    }

    /// `run --results DIR` is the run's output.directory: init_from's experiment names are
    /// looked up there, and the run's experiment.yaml records it.
    @Test func resultsOptionIsTheOutputDirectory() throws {
        let e = try Experiment.parse(yaml: ExperimentFileTests.valid, file: "Experiments/x.yaml", overrides: Overrides(results: "/tmp/elsewhere"))
        #expect(e.outputDirectory == "/tmp/elsewhere")
        #expect(e.resolvedYAML.contains("directory: /tmp/elsewhere"))
    }

    /// Weights files are read back in Keras' shapes under a checksum; a file from before the
    /// shapes (flat datasets) still loads; anything else that is wrong names the dataset.
    @Test func weightsFilesAreCheckedDatasetByDataset() throws {
        let dir = try Self.temporary("weights")
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try Experiment.parse(yaml: ExperimentFileTests.valid, file: "Experiments/tiny.yaml")
        let saved = try RunPlan(experiment: e, loadData: false).model
        let good = dir.appendingPathComponent("good.h5")
        try ModelWeights.save(saved, to: good)
        let reader = try HDF5Reader(path: good.path)
        for layer in saved.layers { for p in layer.parameters { #expect(try reader.shape("\(layer.name)/\(p.name)") == p.shape) } }
        reader.close()

        func loadError(_ file: URL) -> String {
            do {
                let model = try RunPlan(experiment: try e.withSeed(e.seed + 1), loadData: false).model
                try ModelWeights.load(model, from: file)
                for (a, b) in zip(model.layers, saved.layers) {
                    for (p, q) in zip(a.parameters, b.parameters) where p.value.array != q.value.array { return "loaded other values" }
                }
                return "loaded"
            } catch {
                return "\(error)"
            }
        }
        #expect(loadError(good) == "loaded")
        /// The same parameters written another way: `change` may rewrite one dataset.
        func variant(_ name: String, _ change: (HDF5Writer, String, [Float], [Int]) throws -> Bool) throws -> URL {
            let url = dir.appendingPathComponent("\(name).h5")
            let h5 = try HDF5Writer(path: url.path)
            for layer in saved.layers {
                for p in layer.parameters where try !change(h5, "\(layer.name)/\(p.name)", p.value.array, p.shape) {
                    try h5.write("\(layer.name)/\(p.name)", floats: p.value.array)
                }
            }
            try h5.close()
            return url
        }
        #expect(loadError(try variant("flat") { _, _, _, _ in false }) == "loaded")
        let transposed = loadError(try variant("transposed") { h5, name, values, shape in
            guard name == "dense/kernel" else { return false }
            try h5.write(name, floats: values, shape: [shape[1], shape[0]], checksummed: false)
            return true
        })
        #expect(transposed.contains("dense/kernel has shape [10, 676] (6760 values), this model's is [676, 10]"), "\(transposed)")
        let integers = loadError(try variant("integers") { h5, name, values, _ in
            guard name == "conv2d/bias" else { return false }
            try h5.write(name, ints: values.map { Int($0) })
            return true
        })
        #expect(integers.contains("conv2d/bias holds integers, not floating-point weights"), "\(integers)")
        let nan = loadError(try variant("nan") { h5, name, values, _ in
            guard name == "dense/bias" else { return false }
            var v = values
            v[7] = .nan
            try h5.write(name, floats: v)
            return true
        })
        #expect(nan.contains("dense/bias holds nan at element 7 of 10"), "\(nan)")

        let damaged = dir.appendingPathComponent("damaged.h5")
        try FileManager.default.copyItem(at: good, to: damaged)
        let kernel = try #require(saved.layers.first { $0.name == "dense" }?.parameters.first { $0.name == "kernel" })
        try ReportsHDF5ChecksumTests.damage(damaged.path, whereStored: Array(kernel.value.array.dropFirst(100)))
        let message = loadError(damaged)
        #expect(message.contains("damaged.h5 is damaged") && message.contains("'dense/kernel'") && message.lowercased().contains("checksum"), "\(message)")
    }

    @Test func fileProblemsInPlainWords() throws {
        let dir = try Self.temporary("files")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("plain")
        try Data("x".utf8).write(to: file)
        do {
            try FileManager.default.createDirectory(at: file.appendingPathComponent("sub"), withIntermediateDirectories: true)
            Issue.record("a directory was made inside a file")
        } catch {
            #expect(FileProblem.reason(error, path: file.appendingPathComponent("sub").path) == "\(file.path) is a file, not a directory")
        }
        #expect(FileProblem.reason(CocoaError(.fileReadUnknown), path: dir.path) == "is a directory")
        // Relative paths with one-character parts (NSString's deletingLastPathComponent traps on them).
        for path in ["x", "-", "q/model.yaml", "E/model_2.yaml", "/q/x.yaml"] {
            do {
                _ = try Experiment.load(file: path)
                Issue.record("\(path) loaded")
            } catch {
                #expect("\(error)".hasPrefix("\(path)") && "\(error)".contains("cannot be read"), "\(error)")
            }
        }
    }
}
