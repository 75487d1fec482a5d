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
    public var testAccuracy: Double
    public var metrics: [String: Any]
}

/// `fashionbench run`: prepare (nothing written if the file, data or model is wrong), claim a
/// run directory, train, evaluate on the test set, then write `metrics.json` last — its
/// presence is what marks a run complete.
public enum Runner {
    public static func run(_ experiment: Experiment, resultsRoot: String? = nil, log: @escaping (String) -> Void = { print($0); fflush(stdout) },
                           liveProgress: Bool? = nil) throws -> RunResult {
        let plan = try RunPlan(experiment: experiment)
        return try run(plan, resultsRoot: resultsRoot, log: log, liveProgress: liveProgress)
    }

    public static func run(_ plan: RunPlan, resultsRoot: String? = nil, log: @escaping (String) -> Void = { print($0); fflush(stdout) },
                           liveProgress: Bool? = nil) throws -> RunResult {
        let e = plan.experiment
        let model = plan.model
        let summary = model.summary(title: e.name)
        log(summary)
        log("Data: \(plan.train.count) training, \(plan.validation?.count ?? 0) validation, \(plan.test.count) test images; "
            + "batch \(e.training.batchSize), \(e.training.epochs) epochs, \(e.training.optimizerName), seed \(e.seed), \(plan.threads) threads")

        let (runID, dir) = try RunDirectory.create(root: resultsRoot ?? e.outputDirectory, experiment: e.name, seed: e.seed)
        log("Run \(runID): \(dir.path)")
        try ResultFiles.write(e.resolvedYAML, to: dir.appendingPathComponent("experiment.yaml"))
        try ResultFiles.write(summary, to: dir.appendingPathComponent("model_summary.txt"))

        let callbacks: [Callback] = e.training.callbacks.compactMap { c in c.earlyStopping.map { EarlyStopping($0) } }
        let trainer = Trainer(model: model, optimizer: plan.optimizer, callbacks: callbacks, batchSize: e.training.batchSize,
                              evaluationBatchSize: e.evaluationBatchSize, scale: Float(e.data.rescale),
                              shuffle: e.training.shuffle, seed: e.seed)
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
        let test = trainer.evaluate(plan.test)
        log(String(format: "Test: loss %.4f - accuracy %.4f (%d images)", test.loss, test.accuracy, plan.test.count))

        let stepSeconds = history.reduce(0) { $0 + $1.trainSeconds }
        let samples = history.reduce(0) { $0 + $1.samples }
        let git = GitInfo.commit()
        let stopper = callbacks.compactMap { $0 as? EarlyStopping }.first
        var metrics: [String: Any] = [
            "experiment": e.name,
            "run_id": runID,
            "test_accuracy": test.accuracy,
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
            "started_at": ISO8601DateFormatter().string(from: started),
            "finished_at": ISO8601DateFormatter().string(from: Date()),
            "final_loss": history.last?.loss ?? NSNull(),
            "final_accuracy": history.last?.accuracy ?? NSNull(),
            "final_val_loss": history.last?.valLoss ?? NSNull(),
            "final_val_accuracy": history.last?.valAccuracy ?? NSNull(),
            "best_val_accuracy": history.compactMap(\.valAccuracy).max() ?? NSNull(),
            "best_val_loss": history.compactMap(\.valLoss).min() ?? NSNull(),
        ]
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
        try ResultFiles.write(try ResultFiles.json(metrics), to: dir.appendingPathComponent("metrics.json"))
        log("Wrote \(dir.path)/metrics.json")
        return RunResult(directory: dir, history: history, testLoss: test.loss, testAccuracy: test.accuracy, metrics: metrics)
    }

    /// epoch, loss, accuracy, val_loss, val_accuracy, learning_rate, seconds.
    static func historyCSV(_ rows: [EpochRecord]) -> String {
        ResultFiles.csv(header: ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"],
                        rows: rows.map { r in
                            [String(r.epoch), ResultFiles.number(r.loss), ResultFiles.number(r.accuracy), ResultFiles.number(r.valLoss),
                             ResultFiles.number(r.valAccuracy), ResultFiles.number(r.learningRate), String(format: "%.3f", r.seconds)]
                        })
    }
}
