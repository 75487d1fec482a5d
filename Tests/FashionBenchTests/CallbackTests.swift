import Foundation
import Testing
import Yams
import FashionConfig
import FashionNN
import FashionData
import FashionExperiments
import FashionReports

/// Keras 3's callback rules, step by step on fixed sequences of logs.
@Suite struct CallbackTests {
    func trainer(learningRate: Float = 0.001) throws -> Trainer {
        let model = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: .softmax)], loss: CategoricalCrossentropy(), maxBatch: 2)
        model.initialize(seed: 1)
        let t = Trainer(model: model, optimizer: Adam(learningRate: learningRate), callbacks: [], batchSize: 2,
                        evaluationBatchSize: 2, scale: 1, shuffle: false, seed: 0)
        t.log = { _ in }
        return t
    }

    /// Keras' MonitorCallback takes abs(min_delta): a negative one is the same threshold.
    @Test func negativeMinDeltaIsItsMagnitudeAsInKeras() throws {
        let yaml = ExperimentFileTests.valid.replacingOccurrences(
            of: "    - {type: EarlyStopping, monitor: val_accuracy, patience: 2}",
            with: "    - {type: EarlyStopping, monitor: val_accuracy, patience: 2, min_delta: -0.01}\n    - {type: ReduceLROnPlateau, min_delta: -0.5}")
        let callbacks = try Experiment.parse(yaml: yaml, file: "x.yaml").training.callbacks
        #expect(callbacks.count == 2)
        for c in callbacks {
            switch c.kind {
            case let .earlyStopping(s): #expect(s.minDelta == 0.01)
            case let .reduceLROnPlateau(s): #expect(s.minDelta == 0.5)
            case .modelCheckpoint: Issue.record("no checkpoint was configured")
            }
        }
    }

    /// A NaN that the loss does not show (here in BatchNormalization's moving variance, which
    /// only inference reads) still ends training: at the validation loss, or at the weights.
    @Test func nonFiniteWeightsOrValidationLossEndTraining() throws {
        let set = ImageSet(shape: [4], pixels: (0..<32).map { UInt8($0 * 7 % 256) }, labels: (0..<8).map { Int32($0 % 3) }, classNames: ["a", "b", "c"])
        for validating in [false, true] {
            let model = try Sequential(inputShape: [4], layers: [Dense(units: 3), BatchNormalization(), ActivationLayer(.softmax)],
                                       loss: CategoricalCrossentropy(), maxBatch: 8)
            model.initialize(seed: 1)
            let variance = try #require(model.layers[1].parameters.first { $0.name == "moving_variance" })
            variance.value.pointer[1] = .nan
            let t = Trainer(model: model, optimizer: Adam(learningRate: 0.001), callbacks: [], batchSize: 4,
                            evaluationBatchSize: 4, scale: 1 / 255, shuffle: false, seed: 0)
            var records: [EpochRecord] = []
            do {
                _ = try t.fit(train: set, validation: validating ? set : nil, epochs: 3) { records.append($0) }
                Issue.record("training went on with a NaN moving variance")
            } catch let e as TrainingError {
                let what = validating ? "the validation loss is not finite" : "\(model.layers[1].name)/moving_variance holds values that are not finite"
                #expect(e.description.hasPrefix("training diverged in epoch 1: \(what)"), "\(e)")
            }
            #expect(records.count == 1 && records[0].loss.isFinite, "the training loss itself stayed finite")
        }
    }

    @Test func reduceLROnPlateauFollowsKeras() throws {
        var s = ReduceLROnPlateau.Settings()
        s.patience = 2; s.factor = 0.5; s.cooldown = 1; s.minLR = 0.0002; s.minDelta = 0.01
        let cb = ReduceLROnPlateau(s)
        let t = try trainer()
        cb.onTrainBegin(t)
        // By hand (Keras' on_epoch_end): improvement means < best − 0.01.
        // e0 1.0 best; e1 0.995 wait 1; e2 0.99 wait 2 → lr 0.0005, cooldown 1;
        // e3 0.98: cooldown 1→0, wait 0; 0.98 < 0.99 improves → best; e4 0.98 wait 1;
        // e5 0.98 wait 2 → 0.00025, cooldown 1; e6: cooldown→0; no improvement, not in cooldown → wait 1;
        // e7 wait 2 → max(0.000125, 0.0002) = 0.0002; e8, e9: cooldown then wait 1; e10 wait 2, lr = min_lr: no change.
        let losses = [1.0, 0.995, 0.99, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98, 0.98]
        var lrs: [Float] = []
        for (e, v) in losses.enumerated() {
            cb.onEpochEnd(e, logs: ["val_loss": v], trainer: t)
            lrs.append(t.optimizer.learningRate)
        }
        let expected: [Float] = [0.001, 0.001, 0.0005, 0.0005, 0.0005, 0.00025, 0.00025, 0.0002, 0.0002, 0.0002, 0.0002]
        #expect(lrs == expected)
        #expect(cb.reductions.map(\.0) == [2, 5, 7])
    }

    @Test func earlyStoppingFollowsKeras() throws {
        var s = EarlyStopping.Settings(monitor: "val_accuracy", minDelta: 0.01, patience: 2, restoreBestWeights: true)
        s.mode = .auto  // max for accuracy
        let cb = EarlyStopping(s)
        let t = try trainer()
        cb.onTrainBegin(t)
        let p = t.model.parameters[0].value
        // Epoch 1 is the best (0.80); its weights are marked with 7 before the later epochs change them.
        let accuracies = [0.70, 0.80, 0.805, 0.79]
        for (e, v) in accuracies.enumerated() {
            p.pointer[0] = Float(e == 1 ? 7 : 100 + e)
            cb.onEpochEnd(e, logs: ["val_accuracy": v], trainer: t)
            if t.stopTraining { break }
        }
        // 0.805 is not > 0.80 + 0.01: wait 1, then 0.79: wait 2 → stop at epoch 3; Keras 3.15
        // restores the best epoch's weights in on_train_end.
        #expect(cb.stoppedEpoch == 3 && cb.bestEpoch == 1)
        #expect(p.pointer[0] == 103)
        cb.onTrainEnd(t)
        #expect(p.pointer[0] == 7)
    }

    /// Training that runs out of epochs before patience does is restored too (Keras 3.15).
    @Test func earlyStoppingRestoresWithoutStopping() throws {
        let cb = EarlyStopping(EarlyStopping.Settings(monitor: "val_loss", patience: 5, restoreBestWeights: true))
        let t = try trainer()
        cb.onTrainBegin(t)
        let p = t.model.parameters[0].value
        for (e, v) in [0.9, 0.5, 0.6, 0.7].enumerated() {
            p.pointer[0] = Float(e == 1 ? 7 : 100 + e)
            cb.onEpochEnd(e, logs: ["val_loss": v], trainer: t)
        }
        #expect(!t.stopTraining && cb.stoppedEpoch == nil && cb.bestEpoch == 1)
        cb.onTrainEnd(t)
        #expect(p.pointer[0] == 7)
    }

    /// Keras 3.15's own callbacks driven by generated logs (Fixtures/keras/make_callbacks.py):
    /// 240 cases of random settings, with ties, plateaus and accuracy steps of exactly
    /// min_delta, where Keras' float32 comparison decides. Each of ours must take the same
    /// decisions: the learning rate after every epoch, the epoch training stops at, the epoch
    /// whose weights are restored, the epochs saved.
    @Test func callbacksDecideAsKerasOnGeneratedLogs() throws {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let url = base.appendingPathComponent("keras/callbacks.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        #expect(cases.count == 240)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-callbacks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, c) in cases.enumerated() {
            let settings = try #require(c["settings"] as? [String: Any])
            let values = try #require(c["values"] as? [Double])
            let kind = try #require(c["callback"] as? String)
            // The case's settings as an experiment file's callback entry, through our parser.
            let flags: Set = ["restore_best_weights", "save_best_only"]
            var entry = settings.map { key, value in "\(key): \(flags.contains(key) ? ((value as! Bool) ? "true" : "false") : "\(value)")" }
            entry.append("type: \(kind)")
            let yaml = ExperimentFileTests.valid.replacingOccurrences(
                of: "    - {type: EarlyStopping, monitor: val_accuracy, patience: 2}", with: "    - {\(entry.joined(separator: ", "))}")
            let spec = try #require(try Experiment.parse(yaml: yaml, file: "case\(i).yaml").training.callbacks.first)
            let monitor = try #require(settings["monitor"] as? String)
            let t = try trainer(learningRate: 0.001)
            let p = t.model.parameters[0].value
            let callback = spec.make(runDirectory: dir)
            callback.onTrainBegin(t)
            var learningRates: [Float] = [], stopped: Int?, saves: [Int] = []
            for (e, v) in values.enumerated() {
                p.pointer[0] = Float(e)
                callback.onEpochEnd(e, logs: [monitor: v], trainer: t)
                learningRates.append(t.optimizer.learningRate)
                if (callback as? ModelCheckpoint)?.savedEpoch == e { saves.append(e) }
                if t.stopTraining { stopped = e; break }
            }
            p.pointer[0] = -1
            callback.onTrainEnd(t)
            let what = "case \(i) (\(kind) \(settings), values \(values))"
            switch kind {
            case "EarlyStopping":
                #expect(stopped == c["stopped_epoch"] as? Int, "\(what): stopped at \(String(describing: stopped))")
                let restored: Int? = p.pointer[0] < 0 ? nil : Int(p.pointer[0])
                #expect(restored == c["restored_epoch"] as? Int, "\(what): restored \(String(describing: restored))")
            case "ReduceLROnPlateau":
                let expected = try #require(c["learning_rates"] as? [Double]).map(Float.init)
                #expect(learningRates == expected, "\(what): \(learningRates)")
            default:
                #expect(saves == (c["saved_epochs"] as? [Int]), "\(what): saved \(saves)")
                try? FileManager.default.removeItem(at: (callback as! ModelCheckpoint).file)
            }
        }
    }

    /// A checkpoint that cannot be written stops training and says why (the run then fails),
    /// and the best value is not taken as saved.
    @Test func aCheckpointThatCannotBeSavedStopsTraining() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-ckpt-fail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("weights.h5"), withIntermediateDirectories: true)  // a directory in its place
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = try trainer()
        let checkpoint = ModelCheckpoint(.init(), directory: dir)
        checkpoint.onTrainBegin(t)
        checkpoint.onEpochEnd(0, logs: ["val_loss": 0.5], trainer: t)
        #expect(t.stopTraining && checkpoint.savedEpoch == nil)
        #expect(checkpoint.saveFailure?.hasPrefix("ModelCheckpoint could not save epoch 1's weights to \(dir.path)/weights.h5") == true,
                "\(String(describing: checkpoint.saveFailure))")
    }

    /// init_from's "newest run": by time, then by the number a second id of the same second got.
    @Test func newestRunIdsFirst() {
        let ids = ["20260101-000000-seed0-9", "20260101-000000-seed0-10", "20260101-000000-seed0", "20251231-235959-seed3-x2",
                   "notes", "20260101-000001-seed1-x3"]
        #expect(RunDirectory.newestFirst(ids) == ["20260101-000001-seed1-x3", "20260101-000000-seed0-10", "20260101-000000-seed0-9",
                                                  "20260101-000000-seed0", "20251231-235959-seed3-x2", "notes"])
    }

    @Test func modelCheckpointAndInitFrom() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-labels-idx1-ubyte.gz") else { return }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-ckpt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("Results").path
        let yaml = """
        name: first
        data: {validation: first 200, limit: 400, test_limit: 200}
        model:
          layers: [{type: Flatten}, {type: Dense, units: 16, activation: relu}, {type: Dense, units: 10, activation: softmax}]
        training:
          epochs: 3
          threads: 1
          callbacks: [{type: ModelCheckpoint, monitor: val_loss}]
        output: {directory: \(results), charts: false}
        """
        let file = dir.appendingPathComponent("first.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        // Before any run: init_from names what to run first.
        let second = dir.appendingPathComponent("second.yaml")
        try yaml.replacingOccurrences(of: "name: first", with: "name: second")
            .replacingOccurrences(of: "  threads: 1", with: "  threads: 1\n  init_from: first").write(to: second, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { _ = try RunPlan(experiment: try Experiment.load(file: second.path)) }
        // A path that is not there is named as such, not taken for an experiment's name.
        for missing in ["\(dir.path)/nowhere/weights.h5", "weights.h5"] {
            let third = dir.appendingPathComponent("third.yaml")
            try yaml.replacingOccurrences(of: "  threads: 1", with: "  threads: 1\n  init_from: \(missing)").write(to: third, atomically: true, encoding: .utf8)
            do {
                _ = try RunPlan(experiment: try Experiment.load(file: third.path))
                Issue.record("\(missing): loaded")
            } catch {
                #expect("\(error)".contains("training.init_from → \(missing) does not exist"), "\(error)")
            }
        }

        // Set on the command line, it is blamed there, not on the file's first line.
        do {
            _ = try RunPlan(experiment: try Experiment.load(file: file.path, patches: [("training.init_from", Node("/nowhere/w.h5"))],
                                                            patchOrigins: ["--set training.init_from=/nowhere/w.h5"]))
            Issue.record("/nowhere/w.h5: loaded")
        } catch {
            #expect("\(error)".hasPrefix("--set training.init_from=/nowhere/w.h5: training.init_from → /nowhere/w.h5 does not exist"), "\(error)")
        }

        let r = try Runner.run(try Experiment.load(file: file.path), log: { _ in }, liveProgress: false)
        let best = r.history.enumerated().min { ($0.element.valLoss ?? 0) < ($1.element.valLoss ?? 0) }!.offset
        #expect(r.metrics["checkpoint_epoch"] as? Int == best + 1)
        let weights = r.directory.appendingPathComponent("weights.h5")
        let plan = try RunPlan(experiment: try Experiment.load(file: second.path))
        #expect(plan.initializedFrom?.standardizedFileURL == weights.standardizedFileURL)
        let h5 = try HDF5Reader(path: weights.path)
        defer { h5.close() }
        for layer in plan.model.layers {
            for p in layer.parameters { #expect(try h5.readFloats("\(layer.name)/\(p.name)") == p.value.array) }
        }
    }
}
