import Foundation
import FashionTensor
import FashionNN
import FashionData
import FashionReports

/// What a finished run produced.
public struct RunResult {
    public var directory: URL
    public var history: [EpochRecord]
    public var testLoss: Double
    /// nil for a model that reconstructs its input.
    public var testAccuracy: Double?
    /// Mean squared error of a reconstruction on the test set (nil for a classifier).
    public var testReconstructionMSE: Double? = nil
    public var metrics: [String: Any]
    /// Test-set truth and predictions, in test order.
    public var truth: [Int]
    public var predicted: [Int]
    public var classNames: [String]
}

/// `fashionbench run`: prepare (nothing written if the file, data or model is wrong), claim a
/// run directory, train, evaluate on the test set, then write `metrics.json` last — its
/// presence is what marks a run complete.
public enum Runner {
    /// One run (or, with `repeats > 1`, a group of runs; the result is then the first run's
    /// and the group's directory is its parent).
    public static func run(_ experiment: Experiment, resultsRoot: String? = nil, log: @escaping (String) -> Void = { print($0); fflush(stdout) },
                           liveProgress: Bool? = nil) throws -> RunResult {
        if experiment.repeats > 1 {
            return try runRepeats(experiment, resultsRoot: resultsRoot, log: log, liveProgress: liveProgress).runs[0]
        }
        let plan = try RunPlan(experiment: experiment)
        return try run(plan, resultsRoot: resultsRoot, log: log, liveProgress: liveProgress)
    }

    public static func run(_ plan: RunPlan, resultsRoot: String? = nil, log: @escaping (String) -> Void = { print($0); fflush(stdout) },
                           liveProgress: Bool? = nil) throws -> RunResult {
        let e = plan.experiment
        log(plan.model.summary(title: e.name))
        let (runID, dir) = try RunDirectory.create(root: resultsRoot ?? e.outputDirectory, experiment: e.name, seed: e.seed,
                                                   completion: "metrics.json")
        defer { Interruption.end(dir) }
        log("Run \(runID): \(dir.path)")
        return try execute(plan, directory: dir, runID: runID, log: log, liveProgress: liveProgress)
    }

    /// Trains into `dir`; if anything fails there, `failed.txt` says what (and there is no
    /// metrics.json, so nothing takes the run for a complete one).
    static func execute(_ plan: RunPlan, directory dir: URL, runID: String, log: @escaping (String) -> Void,
                        liveProgress: Bool?) throws -> RunResult {
        Interruption.begin(dir)
        defer { Interruption.end(dir) }
        do {
            return try train(plan, directory: dir, runID: runID, log: log, liveProgress: liveProgress)
        } catch RunError.interrupted(let path) {
            throw RunError.interrupted(path)  // failed.txt already says which signal
        } catch {
            try? ResultFiles.write("\(error)\n", to: dir.appendingPathComponent("failed.txt"))
            throw error
        }
    }

    /// `repeats` runs with seeds seed, seed+1, … in `Results/<experiment>/<group-id>/seed-<s>/`,
    /// then `summary.csv`/`summary.json` (mean, sample sd, t interval per metric) — written
    /// last, so a group without them is incomplete. The first seed's data and model are
    /// checked before the group directory exists (the others differ only in their seed); each
    /// later seed reads the data again, and if that fails the group gets failed.txt.
    public static func runRepeats(_ experiment: Experiment, resultsRoot: String? = nil, log: @escaping (String) -> Void = { print($0); fflush(stdout) },
                                  liveProgress: Bool? = nil) throws -> (directory: URL, runs: [RunResult], summary: RepeatSummary) {
        let seeds = (0..<experiment.repeats).map { experiment.seed + UInt64($0) }
        let experiments = try seeds.map { try experiment.withSeed($0) }
        let first = try RunPlan(experiment: experiments[0])
        log(first.model.summary(title: experiment.name))
        let (groupID, group) = try RunDirectory.create(root: resultsRoot ?? experiment.outputDirectory, experiment: experiment.name,
                                                      seed: experiment.seed, suffix: "x\(experiment.repeats)", completion: "summary.json")
        defer { Interruption.end(group) }
        log("Repeats \(groupID): \(experiment.repeats) runs, seeds \(seeds.first!)…\(seeds.last!), in \(group.path)")
        do {
            try ResultFiles.write(experiment.resolvedYAML, to: group.appendingPathComponent("experiment.yaml"))
        } catch {
            try? ResultFiles.write("\(error)\n", to: group.appendingPathComponent("failed.txt"))
            throw error
        }
        // The group, like each run, says why it is incomplete: a seed that failed, or a signal
        // (it is tracked from its creation).
        var runs: [RunResult] = []
        var current = experiments[0].seed
        do {
            for (k, e) in experiments.enumerated() {
                current = e.seed
                let plan = k == 0 ? first : try RunPlan(experiment: e)
                let dir = group.appendingPathComponent("seed-\(e.seed)", isDirectory: true)
                let failure = Interruption.makeTrackedDirectory(dir, mode: 0o777)  // as FileManager made them before
                guard failure == 0 else { throw RunError.cannotCreate(dir.path, String(cString: strerror(failure))) }
                log("Repeat \(k + 1)/\(experiment.repeats), seed \(e.seed)")
                runs.append(try execute(plan, directory: dir, runID: "\(groupID)/seed-\(e.seed)", log: log, liveProgress: liveProgress))
            }
            let summary = RepeatSummary(runs: runs, confidence: experiment.output.confidence)
            try RunOutputs.writeRepeatSummary(summary, experiment: experiment, modelSummary: first.model.summary(title: experiment.name),
                                              directory: group, log: log)
            log(summary.headline)
            return (group, runs, summary)
        } catch RunError.interrupted(let path) {
            throw RunError.interrupted(path)  // failed.txt already says which signal
        } catch {
            try? ResultFiles.write("seed \(current) failed after \(runs.count) of \(experiment.repeats) seeds finished: \(error)\n"
                                   + "the group did not finish (no summary.json)\n", to: group.appendingPathComponent("failed.txt"))
            throw error
        }
    }

    /// Trains and evaluates into an existing, empty run directory.
    private static func train(_ plan: RunPlan, directory dir: URL, runID: String, log: @escaping (String) -> Void,
                              liveProgress: Bool?) throws -> RunResult {
        let e = plan.experiment
        let model = plan.model
        let summary = model.summary(title: e.name)
        // The checkout as the run starts: a commit made while it trains is not its code.
        let git = GitInfo.commit()
        plan.dataNotes.forEach(log)
        log("Data: \(plan.train.count) training, \(plan.validation?.count ?? 0) validation, \(plan.test.count) test images; "
            + "batch \(e.training.batchSize), \(e.training.epochs) epochs, \(e.training.optimizerName), seed \(e.seed), \(plan.threads) threads")
        try ResultFiles.write(e.resolvedYAML, to: dir.appendingPathComponent("experiment.yaml"))
        try ResultFiles.write(summary, to: dir.appendingPathComponent("model_summary.txt"))
        if !plan.dataSkipped.isEmpty {
            try ResultFiles.write(skippedCSV(plan.dataSkipped), to: dir.appendingPathComponent("data_skipped.csv"))
            log("All \(plan.dataSkipped.count) skipped rows and images, with the reasons: data_skipped.csv")
        }

        let callbacks = e.training.callbacks.map { $0.make(runDirectory: dir) }
        if let from = plan.initializedFrom { log("Starting from the weights in \(from.path)") }
        let trainer = plan.makeTrainer(callbacks: callbacks)
        trainer.log = log
        let printer = liveProgress.map { ProgressPrinter(epochs: e.training.epochs, live: $0) } ?? ProgressPrinter(epochs: e.training.epochs)
        let started = Date()
        let t0 = DispatchTime.now()
        var rows: [EpochRecord] = []
        let history = try trainer.fit(train: plan.train, validation: plan.validation, epochs: e.training.epochs,
                                      progress: printer.batch) { record in
            printer.epochEnd(record)
            rows.append(record)
            try ResultFiles.write(historyCSV(rows), to: dir.appendingPathComponent("history.csv"))
        }
        let trainSeconds = Trainer.seconds(since: t0)
        if let failure = callbacks.lazy.compactMap({ ($0 as? ModelCheckpoint)?.saveFailure }).first { throw HarnessError(failure) }
        // weights.h5 holds the run's trained weights: the checkpoint's best when one saved
        // them, else the final ones (what init_from: of a later experiment loads).
        if !callbacks.contains(where: { ($0 as? ModelCheckpoint)?.savedEpoch != nil }) {
            try ModelWeights.save(model, to: dir.appendingPathComponent("weights.h5"), attributes: ["epoch": String(history.count)])
        }
        let test = trainer.evaluation(of: plan.test, keepingProbabilities: true)
        if !test.loss.isFinite || !(test.reconstructionMSE?.isFinite ?? true) {
            throw TrainingError.testNotFinite(String(format: "loss %g%@", test.loss, test.reconstructionMSE.map { String(format: ", reconstruction MSE %g", $0) } ?? ""))
        }
        let reconstructionMSE = test.reconstructionMSE
        if let accuracy = test.accuracy {
            log(String(format: "Test: loss %.4f - accuracy %.4f (%d images)", test.loss, accuracy, plan.test.count))
        } else {
            log(String(format: "Test: loss %.4f - reconstruction MSE %.6f (%d images)", test.loss, reconstructionMSE ?? .nan, plan.test.count))
        }
        let probabilities = test.probabilities

        let stepSeconds = history.reduce(0) { $0 + $1.trainSeconds }
        let samples = history.reduce(0) { $0 + $1.samples }
        let stopper = callbacks.compactMap { $0 as? EarlyStopping }.first
        var metrics: [String: Any] = [
            "experiment": e.name,
            "run_id": runID,
            "test_accuracy": test.accuracy ?? NSNull(),
            "task": model.reconstructsInput ? "reconstruction" : "classification",
            "test_loss": test.loss,
            "test_examples": plan.test.count,
            "params": model.parameterCount,
            "trainable_params": model.trainableCount,
            "non_trainable_params": model.nonTrainableCount,
            "epochs_run": history.count,
            "epochs_planned": e.training.epochs,
            "train_seconds": trainSeconds,
            "samples_per_second": Double(samples) / max(stepSeconds, 1e-9),
            "train_examples": plan.train.count,
            "validation_examples": plan.validation?.count ?? 0,
            "batch_size": e.training.batchSize,
            "seed": Int(e.seed),
            "threads": plan.threads,
            "git_commit": git.hash ?? NSNull(),
            "git_dirty": git.dirty,
            "initialized_from": plan.initializedFrom?.path ?? NSNull(),
            "started_at": ISO8601DateFormatter().string(from: started),
            "finished_at": ISO8601DateFormatter().string(from: Date()),
            "final_loss": history.last?.loss ?? NSNull(),
            "final_accuracy": history.last?.accuracy ?? NSNull(),
            "final_val_loss": history.last?.valLoss ?? NSNull(),
            "final_val_accuracy": history.last?.valAccuracy ?? NSNull(),
            "best_val_accuracy": history.compactMap(\.valAccuracy).max() ?? NSNull(),
            "best_val_loss": history.compactMap(\.valLoss).min() ?? NSNull(),
        ]
        if !plan.dataNotes.isEmpty { metrics["data_notes"] = plan.dataNotes }
        if !plan.dataSkipped.isEmpty { metrics["data_skipped"] = plan.dataSkipped.count }
        if let reducer = callbacks.compactMap({ $0 as? ReduceLROnPlateau }).first {
            metrics["learning_rate_reductions"] = reducer.reductions.map { ["epoch": $0.0 + 1, "learning_rate": $0.1] }
        }
        if let checkpoint = callbacks.compactMap({ $0 as? ModelCheckpoint }).first {
            metrics["checkpoint_epoch"] = checkpoint.savedEpoch.map { $0 + 1 } ?? NSNull()
        }
        if let stopper {
            metrics["early_stopping_epoch"] = stopper.stoppedEpoch.map { $0 + 1 } ?? NSNull()
            metrics["early_stopping_best_epoch"] = stopper.bestEpoch.map { $0 + 1 } ?? NSNull()
        }
        if !e.reference.isEmpty {
            var reference: [String: Any] = [:]
            for (k, node) in e.reference { reference[k] = node.float ?? node.string ?? NSNull() }
            if case let .scalar(s)? = e.reference.first(where: { $0.0 == "source" })?.1 { reference["source"] = s.string }
            metrics["reference"] = reference
        }
        if let reconstructionMSE { metrics["test_reconstruction_mse"] = reconstructionMSE }
        let classes = model.classes
        let predicted = model.reconstructsInput ? [] : (0..<plan.test.count).map { i -> Int in
            var best = 0
            for j in 1..<classes where probabilities[i * classes + j] > probabilities[i * classes + best] { best = j }
            return best
        }
        var result = RunResult(directory: dir, history: history, testLoss: test.loss, testAccuracy: test.accuracy,
                               testReconstructionMSE: reconstructionMSE, metrics: metrics,
                               truth: model.reconstructsInput ? [] : plan.test.labels.map(Int.init), predicted: predicted,
                               classNames: plan.test.classNames)
        if model.reconstructsInput {
            let pictures = trainer.reconstructions(plan.test, count: 12)
            try RunOutputs.writeReconstructionFiles(result, pictures: pictures, imageShape: model.inputShape, experiment: e,
                                                    modelSummary: summary, earlyStoppingEpoch: stopper?.stoppedEpoch.map { $0 + 1 }, log: log)
        } else {
            try RunOutputs.writeRunFiles(result, probabilities: probabilities, experiment: e, modelSummary: summary,
                                         earlyStoppingEpoch: stopper?.stoppedEpoch.map { $0 + 1 }, log: log)
        }
        result.metrics = metrics
        let json = try ResultFiles.json(metrics)
        try Interruption.complete(dir) { try ResultFiles.write(json, to: dir.appendingPathComponent("metrics.json")) }
        log("Wrote \(dir.path)/metrics.json")
        return result
    }

    /// epoch, loss, accuracy, val_loss, val_accuracy, learning_rate, seconds; a reconstruction
    /// run (no accuracy) has no accuracy columns.
    static func historyCSV(_ rows: [EpochRecord]) -> String {
        let classification = rows.contains { $0.accuracy != nil }
        let header = classification ? ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
                                    : ["epoch", "loss", "val_loss", "learning_rate", "seconds"]
        return ResultFiles.csv(header: header, rows: rows.map { r in
            let accuracy = classification ? [ResultFiles.number(r.accuracy)] : []
            let valAccuracy = classification ? [ResultFiles.number(r.valAccuracy)] : []
            return [String(r.epoch), ResultFiles.number(r.loss)] + accuracy + [ResultFiles.number(r.valLoss)] + valAccuracy
                + [ResultFiles.number(r.learningRate), ResultFiles.number(r.seconds)]
        })
    }

    /// kind, line (in styles.csv), id, file (in images/), reason: one row per styles.csv row
    /// or image the loader left out; empty fields where a kind has no such value.
    static func skippedCSV(_ skipped: [SkippedProduct]) -> String {
        ResultFiles.csv(header: ["kind", "line", "id", "file", "reason"], rows: skipped.map { s in
            [s.kind.rawValue, s.line.map(String.init) ?? "", s.id.map(String.init) ?? "", s.file ?? "", s.reason]
        })
    }
}
