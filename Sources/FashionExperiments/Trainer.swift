import Foundation
import FashionTensor
import FashionNN
import FashionData

/// One epoch's numbers, as Keras' History records them.
public struct EpochRecord: Sendable {
    public var epoch: Int          // 1-based
    public var loss: Double
    /// nil for a model that reconstructs its input (no classes to be right about).
    public var accuracy: Double?
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double      // the whole epoch, validation included
    public var trainSeconds: Double // the training steps only
    public var samples: Int

    public var logs: [String: Double] {
        var l = ["loss": loss]
        if let accuracy { l["accuracy"] = accuracy }
        if let valLoss { l["val_loss"] = valLoss }
        if let valAccuracy { l["val_accuracy"] = valAccuracy }
        return l
    }
}

/// Trains a model on an image set: seeded shuffling, batches prepared in the background,
/// validation after every epoch, callbacks at epoch end.
public final class Trainer {
    public let model: Sequential
    public let optimizer: Optimizer
    public var callbacks: [Callback]
    public var stopTraining = false
    public let batchSize: Int
    public let evaluationBatchSize: Int
    public let scale: Float
    public var log: (String) -> Void = { print($0) }
    private var shuffleGenerator: SeededGenerator
    private let shuffle: Bool
    private let inputs: [FloatBuffer]
    private let labels: [UnsafeMutablePointer<Int32>]
    /// Random transforms of training batches (never validation, test or evaluate).
    public let augmentation: AugmentationSettings?
    private var augmentGenerator: SeededGenerator

    /// `augmentation`: the settings and the seed of its generator (the experiment's seed).
    public init(model: Sequential, optimizer: Optimizer, callbacks: [Callback], batchSize: Int, evaluationBatchSize: Int,
                scale: Float, shuffle: Bool, seed: UInt64,
                augmentation: (settings: AugmentationSettings, seed: UInt64)? = nil) {
        self.augmentation = augmentation?.settings
        augmentGenerator = SeededGenerator(seed: augmentation?.seed ?? seed, stream: "augment")
        self.model = model
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.batchSize = batchSize
        self.evaluationBatchSize = evaluationBatchSize
        self.scale = scale
        self.shuffle = shuffle
        shuffleGenerator = SeededGenerator(seed: seed, stream: "shuffle")
        let capacity = max(batchSize, evaluationBatchSize)
        let imageSize = model.inputShape.reduce(1, *)
        inputs = [FloatBuffer(count: capacity * imageSize), FloatBuffer(count: capacity * imageSize)]
        labels = [.allocate(capacity: capacity), .allocate(capacity: capacity)]
        optimizer.attach(model.parameters)
    }

    deinit { labels.forEach { $0.deallocate() } }

    /// Runs up to `epochs` epochs; `onEpoch` sees each record as soon as it exists (to write
    /// history as it grows); `progress` is told about every batch.
    public func fit(train: ImageSet, validation: ImageSet?, epochs: Int,
                    progress: ((_ epoch: Int, _ done: Int, _ total: Int, _ loss: Double, _ accuracy: Double?, _ seconds: Double) -> Void)? = nil,
                    onEpoch: (EpochRecord) throws -> Void) throws -> [EpochRecord] {
        stopTraining = false
        var history: [EpochRecord] = []
        callbacks.forEach { $0.onTrainBegin(self) }
        var order = Array(0..<train.count)
        for epoch in 0..<epochs {
            let epochStart = DispatchTime.now()
            if shuffle { shuffleGenerator.shuffle(&order) }
            let batches = BatchPrefetcher(set: train, order: order, batchSize: batchSize, scale: scale, inputs: inputs, labels: labels,
                                          augmentation: augmentation,
                                          // a fresh stream of batch seeds each epoch
                                          augmentGenerator: SeededGenerator(seed: augmentGenerator.next(), stream: "augment-epoch"))
            var lossSum = 0.0, correct = 0, seen = 0
            var stepSeconds = 0.0
            while let batch = batches.next() {
                let t0 = DispatchTime.now()
                let r = model.trainStep(batch.input, labels: batch.labels, batch: batch.count)
                optimizer.step()
                stepSeconds += Trainer.seconds(since: t0)
                lossSum += r.lossSum
                correct += r.correct
                seen += batch.count
                progress?(epoch, seen, train.count, lossSum / Double(seen), model.reconstructsInput ? nil : Double(correct) / Double(seen),
                          Trainer.seconds(since: epochStart))
            }
            var record = EpochRecord(epoch: epoch + 1, loss: lossSum / Double(max(seen, 1)),
                                     accuracy: model.reconstructsInput ? nil : Double(correct) / Double(max(seen, 1)),
                                     learningRate: Double(optimizer.learningRate), seconds: 0, trainSeconds: stepSeconds, samples: seen)
            if let validation, validation.count > 0 {
                let v = evaluate(validation)
                record.valLoss = v.loss
                record.valAccuracy = v.accuracy
            }
            record.seconds = Trainer.seconds(since: epochStart)
            // A NaN that a ReLU or max pooling swallows leaves the loss finite while the weights
            // are not; only checking them catches such a run before it reports success.
            let failure: String?
            if !record.loss.isFinite {
                failure = "the loss is not finite"
            } else if let v = record.valLoss, !v.isFinite {
                failure = "the validation loss is not finite"
            } else if let p = model.firstNonFiniteParameter {
                failure = "\(p) holds values that are not finite"
            } else {
                failure = nil
            }
            if let what = failure {
                history.append(record)
                try onEpoch(record)
                throw TrainingError.diverged(epoch: epoch + 1, what: what)
            }
            history.append(record)
            try onEpoch(record)
            for c in callbacks { c.onEpochEnd(epoch, logs: record.logs, trainer: self) }
            if stopTraining { break }
        }
        callbacks.forEach { $0.onTrainEnd(self) }
        return history
    }

    /// Mean loss and accuracy (nil for a reconstruction) over a whole set, in inference mode, in order.
    public func evaluate(_ set: ImageSet) -> (loss: Double, accuracy: Double?) {
        let e = evaluation(of: set, keepingProbabilities: false)
        return (e.loss, e.accuracy)
    }

    public struct Evaluation {
        public var loss: Double
        public var accuracy: Double?
        /// Mean squared error between a reconstructing model's outputs and its (scaled) inputs,
        /// over every value of every image, whatever loss it was trained with.
        public var reconstructionMSE: Double?
        /// Class probabilities, row-major [count, classes], when asked for (classifiers only).
        public var probabilities: [Float]
    }

    /// Loss, accuracy or reconstruction error, and the class probabilities, from one inference
    /// pass over the set, in order.
    public func evaluation(of set: ImageSet, keepingProbabilities: Bool) -> Evaluation {
        let size = model.classes, reconstructs = model.reconstructsInput
        let keeping = keepingProbabilities && !reconstructs
        let output = FloatBuffer(count: evaluationBatchSize * size)
        var probabilities = [Float](), lossSum = 0.0, correct = 0, squaredError = 0.0
        if keeping { probabilities.reserveCapacity(set.count * size) }
        forEachBatch(of: set) { input, labels, count in
            let r = model.evaluate(input, labels: labels, batch: count, outputs: reconstructs || keeping ? output.pointer : nil)
            lossSum += r.lossSum
            correct += r.correct
            if reconstructs {
                for i in 0..<(count * size) {
                    let d = Double(output.pointer[i] - input[i])
                    squaredError += d * d
                }
            } else if keeping {
                probabilities.append(contentsOf: UnsafeBufferPointer(start: output.pointer, count: count * size))
            }
        }
        let n = Double(max(set.count, 1))
        return Evaluation(loss: lossSum / n, accuracy: reconstructs ? nil : Double(correct) / n,
                          reconstructionMSE: reconstructs ? squaredError / Double(max(set.count * size, 1)) : nil,
                          probabilities: probabilities)
    }

    /// The model's outputs for the first `count` images of a set, scaled back to pixel values
    /// (0…255 when `rescale` is 1/255), with those images' inputs: for pictures of reconstructions.
    public func reconstructions(_ set: ImageSet, count: Int) -> (inputs: [Float], outputs: [Float]) {
        let n = min(count, set.count, evaluationBatchSize), size = model.classes
        let first = set.prefix(n)
        var inputs = [Float](repeating: 0, count: n * size), outputs = [Float](repeating: 0, count: n * size)
        forEachBatch(of: first) { input, _, batch in
            inputs.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: input, count: batch * size) }
            outputs.withUnsafeMutableBufferPointer { model.predict(input, batch: batch, into: $0.baseAddress!) }
        }
        return (inputs.map { $0 / scale }, outputs.map { $0 / scale })
    }

    private func forEachBatch(of set: ImageSet, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Int32>, Int) -> Void) {
        let batches = BatchPrefetcher(set: set, order: Array(0..<set.count), batchSize: evaluationBatchSize, scale: scale,
                                      inputs: inputs, labels: labels)
        while let b = batches.next() { body(b.input, b.labels, b.count) }
    }

    static func seconds(since t: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - t.uptimeNanoseconds) / 1e9
    }
}

public enum TrainingError: Error, CustomStringConvertible {
    case diverged(epoch: Int, what: String)
    /// The trained model's test evaluation is not finite (a float32 overflow in inference).
    case testNotFinite(String)
    public var description: String {
        switch self {
        case let .diverged(epoch, what): return "training diverged in epoch \(epoch): \(what) (is training.optimizer.learning_rate too high, or are the inputs far from [0, 1]: data.rescale, data.augmentation.cval?)"
        case let .testNotFinite(what): return "the test evaluation is not finite: \(what); nothing was written as a result"
        }
    }
}
