import ArgumentParser
import Foundation
import FashionConfig
import FashionData
import FashionExperiments
import FashionNN
import FashionReports
import FashionTensor
import Yams

/// Errors the user should read as one line, without a stack of context.
struct UserFacing: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, turning the library's errors into one-line messages and exit code 1.
func reporting<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as ConfigError {
        throw UserFacing(description: e.description)
    } catch let e as DataError {
        throw UserFacing(description: e.description)
    } catch let e as TrainingError {
        throw UserFacing(description: e.description)
    } catch let e as RunError {
        throw UserFacing(description: e.description)
    } catch let e as HarnessError {
        throw UserFacing(description: e.description)
    } catch let e as CocoaError {
        // Foundation's file errors (a path through a regular file, no permission, …): the path
        // and the system's reason, not the error domain and code.
        let path = e.filePath ?? e.url?.path
        throw UserFacing(description: "\(path ?? "a file"): \(FileProblem.reason(e, path: path))")
    }
}

@main
struct FashionBench: ParsableCommand {
    /// Every way out (help and usage included, which end the process inside the argument
    /// parser) checks that standard output was written: output that never arrived (a full
    /// disk, a closed descriptor) turns success into exit 1, so a script reading it does not
    /// take silence for success.
    static func main() {
        atexit {
            if fflush(stdout) != 0 || ferror(stdout) != 0 {
                fputs("Error: cannot write to standard output: \(String(cString: strerror(errno)))\n", stderr)
                _exit(1)
            }
        }
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "fashionbench",
        abstract: "Train, evaluate and benchmark the fashion-image models of published projects, on a CPU.",
        subcommands: [Run.self, Bench.self, Check.self, CompareRuns.self, SweepCommand.self, ReportCommand.self,
                      AugmentPreview.self, ReplayCommand.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train an experiment and write its results under Results/.")

    @Argument(help: "The experiment file (YAML).") var file: String
    @Option(parsing: .unconditional, help: "Train for this many epochs instead of the file's.") var epochs: Int?
    @Option(parsing: .unconditional, help: "Random seed (weights, shuffling, dropout, split).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Train on the first N training examples only (quick tries).") var limit: Int?
    @Option(parsing: .unconditional, help: "Threads for BLAS and element-wise work (default: all cores).") var threads: Int?
    @Option(help: "Directory for results (default: the file's output.directory, Results).") var results: String?
    @Option(parsing: .unconditional, help: "Run N seeds (seed, seed+1, …) and summarise with t confidence intervals.") var repeats: Int?
    @Option(name: .customLong("set"), help: ArgumentHelp("Replace one value of the file (YAML), recorded in the run's experiment.yaml.",
            valueName: "key.path=value")) var sets: [String] = []

    func validate() throws {
        if let repeats, repeats < 1 || repeats > 1000 { throw ValidationError("--repeats must be from 1 to 1000, got \(repeats)") }
        if let epochs, epochs < 1 || epochs > 1_000_000 { throw ValidationError("--epochs must be from 1 to 1000000 (as training.epochs), got \(epochs)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be a positive integer, got \(limit)") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
        if results?.isEmpty == true { throw ValidationError("--results must name a directory, got an empty string") }
        // Here, not in run(), so that a malformed --set is shown with run's usage.
        for assignment in sets { _ = try Patches.parse(assignment) }
    }

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file, overrides: Overrides(epochs: epochs, seed: seed, limit: limit, threads: threads, repeats: repeats,
                                                                         results: results),
                                        patches: try sets.map(Patches.parse), patchOrigins: sets.map { "--set \($0)" })
            Interruption.installSignalHandlers()
            _ = try Runner.run(e)
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time training steps on synthetic input of the experiment's model and batch size.")

    @Argument(help: "The experiment file (YAML).") var file: String
    @Option(parsing: .unconditional, help: "Timed steps, after warm-up.") var steps: Int = 100
    @Option(parsing: .unconditional, help: "Untimed warm-up steps.") var warmup: Int = 5
    @Option(parsing: .unconditional, help: "Threads for BLAS and element-wise work (default: all cores).") var threads: Int?
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Print where a step's time goes, layer by layer.") var profile = false
    @Option(name: .customLong("max-isa"), help: ArgumentHelp(
        "Cap the hand-written kernels' instruction set: avx512, avx2 or sse, to time another host's code paths here. (OpenBLAS: set OPENBLAS_CORETYPE, e.g. Haswell.)",
        valueName: "set")) var maxISA: String?

    func validate() throws {
        if let maxISA, InstructionSet(name: maxISA) == nil {
            throw ValidationError("--max-isa must be one of \(InstructionSet.allCases.map(\.name).joined(separator: ", ")), got '\(maxISA)'")
        }
        if steps < 1 { throw ValidationError("--steps must be a positive integer, got \(steps)") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
    }

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file, overrides: Overrides(threads: threads))
            if let maxISA, let limit = InstructionSet(name: maxISA) { InstructionSet.cap(at: limit) }
            if profile {
                print(try Benchmark.profile(e, steps: steps, warmup: warmup), terminator: "")
                return
            }
            let r = try Benchmark.run(e, steps: steps, warmup: warmup)
            if json {
                print(try ResultFiles.json(r.json), terminator: "")
            } else {
                print(String(format: "%@: batch %d, %d steps in %.2f s: %.0f samples/s, %.1f GFLOP/s (%.2f MFLOP per training sample), %d params, %d threads (%@), %@ kernels",
                             r.experiment, r.batchSize, r.steps, r.seconds, r.samplesPerSecond, r.gflopsPerSecond,
                             Double(r.trainingFlopsPerSample) / 1e6, r.params, r.threads,
                             r.dataParallelWorkers > 1 ? "data-parallel" : "BLAS threads", r.instructionSet))
            }
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read an experiment file and build its model; print the summary and the resolved experiment. Reads no data and no init_from weights (Fashion-MNIST's known sizes are checked).")

    @Argument(help: "The experiment file (YAML).") var file: String

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file)
            try RunPlan.checkKnownData(e)
            let plan = try RunPlan(experiment: e, loadData: false)
            print(plan.model.summary(title: e.name))
            print(e.resolvedYAML)
        }
    }
}

struct CompareRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two classifiers: McNemar's test on two runs, or Dietterich's 5x2cv paired t-test on two experiments.")

    @Argument(help: "Two run directories (McNemar), or two experiment files with --5x2cv.") var items: [String]
    @Flag(name: .customLong("5x2cv"), help: "Dietterich's 5x2cv paired t-test: train both experiments on 5 seeded 50/50 splits.") var fiveByTwo = false
    @Option(parsing: .unconditional, help: "With --5x2cv: use the first N training examples.") var limit: Int?
    @Option(parsing: .unconditional, help: "With --5x2cv: seed of the splits.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "With --5x2cv: epochs for every training (default: each file's).") var epochs: Int?
    @Option(help: "Confidence level of the interval for the difference.") var confidence: Double = 0.95
    @Option(help: "With --5x2cv: directory for the fold table and result.") var results: String = "Results/comparisons"
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard items.count == 2 else { throw ValidationError("give exactly two runs (or two experiment files with --5x2cv), got \(items.count)") }
        guard confidence > 0, confidence < 1 else { throw ValidationError("--confidence must be between 0 and 1, got \(confidence)") }
        if let limit, limit < 4 { throw ValidationError("--limit must be at least 4, got \(limit)") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be a positive integer, got \(epochs)") }
    }

    func run() throws {
        try reporting {
            if !fiveByTwo {
                let (r, text) = try Compare.mcnemar(runA: items[0], runB: items[1], confidence: confidence)
                if json {
                    print(try ResultFiles.json(["n": r.n, "method": r.method, "only_a_correct": r.onlyACorrect, "only_b_correct": r.onlyBCorrect,
                                                "statistic": r.statistic ?? NSNull(), "p_value": r.pValue, "accuracy_a": r.accuracyA,
                                                "accuracy_b": r.accuracyB, "difference": r.difference,
                                                "difference_lower": r.differenceLower, "difference_upper": r.differenceUpper,
                                                "confidence": confidence]), terminator: "")
                } else {
                    print(text, terminator: "")
                }
                return
            }
            let a = try Experiment.load(file: items[0], overrides: Overrides(epochs: epochs))
            let b = try Experiment.load(file: items[1], overrides: Overrides(epochs: epochs))
            // The directory first: twenty trainings must not end in "cannot write the result".
            // result.json is written last; a comparison without it failed (failed.txt says why).
            let data = try Compare.fiveByTwoData(a, b, limit: limit)
            Interruption.installSignalHandlers()
            let (id, dir) = try RunDirectory.create(root: results, experiment: "\(a.name)-vs-\(b.name)", seed: seed, suffix: "5x2cv",
                                                    completion: "result.json")
            defer { Interruption.end(dir) }
            let object: [String: Any]
            do {
                let (r, _, table) = try Compare.fiveByTwo(a, b, data: data, seed: seed, log: { if !json { print($0); fflush(stdout) } })
                try ResultFiles.write(table, to: dir.appendingPathComponent("folds.csv"))
                object = ["experiment_a": a.name, "experiment_b": b.name, "t": r.t.isNaN ? NSNull() : (r.t.isFinite ? r.t as Any : (r.t > 0 ? "inf" : "-inf")),
                          "p_value": r.pValue, "degrees_of_freedom": r.degreesOfFreedom, "variances": r.variances,
                          "seed": Int(seed), "comparison_id": id]
                try Interruption.complete(dir) { try ResultFiles.write(try ResultFiles.json(object), to: dir.appendingPathComponent("result.json")) }
            } catch RunError.interrupted(let path) {
                throw RunError.interrupted(path)
            } catch {
                try? ResultFiles.write("\(error)\n", to: dir.appendingPathComponent("failed.txt"))
                throw error
            }
            let r = (t: object["t"], p: object["p_value"] as! Double)
            if json {
                print(try ResultFiles.json(object), terminator: "")
            } else {
                let t = (r.t as? Double).map { String(format: "%.4f", $0) } ?? (r.t as? String)
                    ?? "undefined (in every replication both folds gave the same difference, and the first is 0)"
                print(String(format: "5x2cv paired t-test, %@ vs %@: t = %@ with 5 d.o.f., p-value = %.6g", a.name, b.name, t, r.p))
                print("Fold table and result: \(dir.path)")
            }
        }
    }
}

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a sweep's trials (all, or one shard of a Slurm job array) and tabulate them by the sweep's metric.")

    @Argument(help: "The sweep file (YAML).") var file: String
    @Option(help: "Run shard i of n (0 ≤ i < n): trials i, i+n, i+2n, … Default: SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else all.") var shard: String?
    @Flag(help: "Merge the shards' results into sweep.csv and the chart.") var collect = false
    @Option(help: "Directory for sweeps (default: the file's output_directory, Results/sweeps).") var results: String?
    @Option(parsing: .unconditional, help: "Threads for each trial.") var threads: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be from 1 to 256, got \(threads)") }
        if collect, shard != nil { throw ValidationError("--collect merges every shard; do not give --shard with it") }
    }

    func run() throws {
        try reporting {
            let sweep = try Sweep.load(file: file)
            if collect {
                try Self.exitIfFailed(try SweepRunner.collect(sweep, root: results, log: { print($0) }))
                return
            }
            let chosen: Shard
            if let shard {
                guard let s = Shard.parse(shard) else { throw ValidationError("--shard must be i/n with 0 ≤ i < n, got \(shard)") }
                chosen = s
            } else if let s = try Shard.fromSlurm() {
                // An array larger than the sweep: the advice is about the array, not --shard.
                guard s.count <= sweep.trials.count else {
                    throw UserFacing(description: "the Slurm job array has \(s.count) tasks, but \(sweep.file) has \(sweep.trials.count) trial\(sweep.trials.count == 1 ? "" : "s"): "
                                     + "submit it with --array=0-\(sweep.trials.count - 1) (or fewer tasks; each runs every n-th trial)")
                }
                chosen = s
            } else {
                chosen = Shard(index: 0, count: 1)
            }
            Interruption.installSignalHandlers()
            let outcome = try SweepRunner.run(sweep, shard: chosen, root: results, overrides: Overrides(threads: threads), log: { print($0); fflush(stdout) })
            try Self.exitIfFailed(outcome)
        }
    }

    /// Failed trials do not stop the sweep, but its exit status says so (after the tables are
    /// written), naming them: a script or a Slurm array must not take the sweep for complete.
    static func exitIfFailed(_ outcome: SweepRunner.Outcome) throws {
        guard !outcome.failed.isEmpty else { return }
        let shown = outcome.failed.prefix(10).joined(separator: "; ") + (outcome.failed.count > 10 ? "; …" : "")
        throw UserFacing(description: "\(outcome.failed.count) trial\(outcome.failed.count == 1 ? "" : "s") failed (status failed in the tables of \(outcome.directory.path)): \(shown)")
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an index over all runs under a results directory: one row per experiment.")

    @Argument(help: "The results directory.") var directory: String = "Results"

    func run() throws {
        try reporting {
            let (written, skipped) = try ResultsIndex.write(root: directory)
            for s in skipped { FileHandle.standardError.write(Data("warning: left out \(s)\n".utf8)) }
            print("Wrote \(written.map(\.path).joined(separator: ", "))")
        }
    }
}

struct AugmentPreview: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-preview",
        abstract: "Write a PNG grid of training images and 3 augmented versions of each (data.augmentation), 4x size.")

    @Argument(help: "The experiment file (YAML).") var file: String
    @Option(parsing: .unconditional, help: "How many training images (the first N).") var count: Int = 8
    @Option(help: "The PNG to write (default: Results/<experiment>/augment-preview.png).") var output: String?

    func validate() throws {
        if count < 1 || count > 1000 { throw ValidationError("--count must be from 1 to 1000, got \(count)") }
    }

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file)
            let (train, _, _) = try RunPlan.loadDataset(e)
            guard train.shape.count == 3, train.shape[2] == 1 || train.shape[2] == 3 else {
                throw UserFacing(description: "augment-preview: images of shape \(train.shape) (need [h, w, 1] or [h, w, 3])")
            }
            let settings = e.data.augmentation ?? AugmentationSettings()
            if e.data.augmentation == nil { print("note: \(e.name) has no data.augmentation; the augmented rows equal the originals") }
            let h = train.shape[0], w = train.shape[1], c = train.shape[2], size = train.imageSize
            let n = min(count, train.count), versions = 3
            // Rows: the originals, then `versions` rows of augmented copies; one column per image.
            var rows = [[[Float]]](repeating: [], count: 1 + versions)
            var rng = SeededGenerator(seed: e.seed, stream: "augment")
            for i in 0..<n {
                let image = train.pixels[(i * size)..<((i + 1) * size)].map(Float.init)
                rows[0].append(image)
                for row in 1...versions {
                    var out = [Float](repeating: 0, count: size)
                    let p = Augmentation.randomParameters(settings, height: h, width: w, using: &rng)
                    image.withUnsafeBufferPointer { src in
                        out.withUnsafeMutableBufferPointer { dst in
                            Augmentation.apply(p, to: src.baseAddress!, into: dst.baseAddress!, height: h, width: w, channels: c,
                                               fillMode: settings.fillMode, cval: settings.cval)
                        }
                    }
                    rows[row].append(out)
                }
            }
            let path = output ?? URL(fileURLWithPath: e.outputDirectory).appendingPathComponent(e.name)
                .appendingPathComponent("augment-preview.png").path
            try OutputFile.checkReplaceable(path, signature: PNGInfo.signature, kind: "PNG")
            try ImageGrid(height: h, width: w, channels: c, zoom: 4).write(rows: rows, to: URL(fileURLWithPath: path))
            print(path)
        }
    }
}

/// `--set key.path=value`: the value is YAML (`--set data.augmentation=null`, `--set training.optimizer=rmsprop`).
enum Patches {
    static func parse(_ text: String) throws -> (String, Node) {
        do {
            let a = try NodePatch.assignment(text)
            return (a.path, a.value)
        } catch let e as PatchError {
            throw ValidationError("--set \(e)")
        }
    }
}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Train from given weights on given batches (raw float32, in file order) and keep every step's loss and chosen steps' weights, to compare with another engine step by step.")

    @Argument(help: "The experiment file (YAML): model, optimizer, loss, batch size.") var file: String
    @Option(help: "Weights to start from (HDF5, one dataset per <layer>/<parameter>, as weights.h5).") var weights: String
    @Option(help: "Inputs: raw float32 samples in the model's input layout, already scaled.") var inputs: String
    @Option(help: "Labels for a classifier: raw int32, one per sample.") var labels: String?
    @Option(parsing: .unconditional, help: "Training steps; batch k is the file's k-th block of batch_size samples, wrapping around.") var steps: Int
    @Option(help: "Steps after which to write weights_<step>.h5, comma-separated.") var saveAt: String = ""
    @Option(help: "The directory to create for loss.csv and the weights.") var output: String

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be a positive integer, got \(steps)") }
        for part in saveAt.split(separator: ",", omittingEmptySubsequences: false) where !saveAt.isEmpty {
            guard let k = Int(part.trimmingCharacters(in: .whitespaces)), k >= 1, k <= steps else {
                throw ValidationError("--save-at takes steps from 1 to \(steps), comma-separated; got '\(part)'")
            }
        }
    }

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file)
            let saveSteps = Set(saveAt.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
            let r = try Replay.run(e, weights: URL(fileURLWithPath: weights), inputs: URL(fileURLWithPath: inputs),
                                   labels: labels.map { URL(fileURLWithPath: $0) }, steps: steps, saveAt: saveSteps,
                                   output: URL(fileURLWithPath: output))
            for note in r.notes { print("note: \(note)") }
            if let last = r.losses.last { print(String(format: "%d steps, last loss %.6f; %@", last.0, last.1, output)) }
        }
    }
}
