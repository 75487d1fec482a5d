import ArgumentParser
import Foundation
import FashionConfig
import FashionData
import FashionExperiments
import FashionReports

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
    }
}

@main
struct FashionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashionbench",
        abstract: "Train, evaluate and benchmark the fashion-image models of published projects, on a CPU.",
        subcommands: [Run.self, Bench.self, Check.self])
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train an experiment and write its results under Results/.")

    @Argument(help: "The experiment file (YAML).") var file: String
    @Option(help: "Train for this many epochs instead of the file's.") var epochs: Int?
    @Option(help: "Random seed (weights, shuffling, dropout, split).") var seed: UInt64?
    @Option(help: "Train on the first N training examples only (quick tries).") var limit: Int?
    @Option(help: "Threads for BLAS and element-wise work (default: all cores).") var threads: Int?
    @Option(help: "Directory for results (default: the file's output.directory, Results).") var results: String?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be a positive integer, got \(epochs)") }
        if let limit, limit < 1 { throw ValidationError("--limit must be a positive integer, got \(limit)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be a positive integer, got \(threads)") }
    }

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file, overrides: Overrides(epochs: epochs, seed: seed, limit: limit, threads: threads))
            _ = try Runner.run(e, resultsRoot: results)
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time training steps on synthetic input of the experiment's model and batch size.")

    @Argument(help: "The experiment file (YAML).") var file: String
    @Option(help: "Timed steps, after warm-up.") var steps: Int = 100
    @Option(help: "Untimed warm-up steps.") var warmup: Int = 5
    @Option(help: "Threads for BLAS and element-wise work (default: all cores).") var threads: Int?
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Print where a step's time goes, layer by layer.") var profile = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be a positive integer, got \(steps)") }
        if warmup < 0 { throw ValidationError("--warmup must not be negative, got \(warmup)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be a positive integer, got \(threads)") }
    }

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file, overrides: Overrides(threads: threads))
            if profile {
                print(try Benchmark.profile(e, steps: steps, warmup: warmup), terminator: "")
                return
            }
            let r = try Benchmark.run(e, steps: steps, warmup: warmup)
            if json {
                print(try ResultFiles.json(r.json), terminator: "")
            } else {
                print(String(format: "%@: batch %d, %d steps in %.2f s: %.0f samples/s, %.1f GFLOP/s (%.2f MFLOP per training sample), %d params, %d threads (%@)",
                             r.experiment, r.batchSize, r.steps, r.seconds, r.samplesPerSecond, r.gflopsPerSecond,
                             Double(r.trainingFlopsPerSample) / 1e6, r.params, r.threads,
                             r.dataParallelWorkers > 1 ? "data-parallel" : "BLAS threads"))
            }
        }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read an experiment file and build its model; print the summary and the resolved experiment.")

    @Argument(help: "The experiment file (YAML).") var file: String

    func run() throws {
        try reporting {
            let e = try Experiment.load(file: file)
            let plan = try RunPlan(experiment: e, loadData: false)
            print(plan.model.summary(title: e.name))
            print(e.resolvedYAML)
        }
    }
}
