import Foundation
import FashionConfig
import FashionNN
import FashionReports
import FashionTensor

/// Trains an experiment's model step by step from given weights on given batches, in file
/// order, and keeps the loss of every step and the weights after chosen steps: the same steps
/// run in Keras (`model.train_on_batch`) from the same weights show whether two engines follow
/// the same trajectory, layer by layer, without the noise of shuffling and data loading.
///
/// Inputs are raw little-endian float32 in the model's input layout (NHWC), already scaled, as
/// numpy's `x.astype(np.float32).tofile(...)` writes them; labels, for classifiers, raw int32.
/// Batch k (from 1) is the file's k-th block of batch_size samples, wrapping around. No
/// shuffling, no augmentation; Dropout draws from FashionBench's own generator, so models with
/// Dropout cannot match another engine step for step.
public enum Replay {
    public struct Result {
        /// (step, mean loss of the batch before that step's update)
        public var losses: [(Int, Double)] = []
        public var weightFiles: [URL] = []
        /// What the caller should know about the comparison (printed by the CLI).
        public var notes: [String] = []
    }

    public static func run(_ e: Experiment, weights: URL, inputs: URL, labels: URL?, steps: Int, saveAt: Set<Int>,
                           output: URL) throws -> Result {
        let plan = try RunPlan(experiment: e, data: nil)
        let model = plan.model, optimizer = plan.optimizer, batch = e.training.batchSize
        try ModelWeights.load(model, from: weights)
        optimizer.attach(model.parameters)
        let sampleSize = model.inputShape.reduce(1, *)

        let inputData = try read(inputs, what: "inputs")
        let sampleBytes = sampleSize * MemoryLayout<Float>.size
        guard inputData.count % sampleBytes == 0, inputData.count / sampleBytes >= batch else {
            throw HarnessError("\(inputs.path): \(inputData.count) bytes is not a whole number of at least \(batch) samples of "
                + "\(shapeText(model.inputShape)) float32 (\(sampleBytes) bytes each)")
        }
        let samples = inputData.count / sampleBytes
        // A NaN or infinity in the inputs would pass through ReLU or max pooling as a finite
        // loss while poisoning the weights.
        let badInput = inputData.withUnsafeBytes { raw in raw.bindMemory(to: Float.self).firstIndex { !$0.isFinite } }
        if let bad = badInput {
            throw HarnessError("\(inputs.path): value \(bad % sampleSize) of sample \(bad / sampleSize) is not finite (\(inputData.withUnsafeBytes { $0.bindMemory(to: Float.self)[bad] }))")
        }
        var labelValues = [Int32](repeating: 0, count: samples)
        if model.reconstructsInput {
            if labels != nil { throw HarnessError("\(e.name) reconstructs its input; it takes no --labels") }
        } else {
            guard let labels else { throw HarnessError("\(e.name) is a classifier: give its labels (--labels, int32)") }
            let data = try read(labels, what: "labels")
            guard data.count == samples * 4 else {
                throw HarnessError("\(labels.path): \(data.count) bytes, expected \(samples) int32 labels (\(samples * 4) bytes)")
            }
            labelValues = data.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
            if let bad = labelValues.firstIndex(where: { $0 < 0 || Int($0) >= model.classes }) {
                throw HarnessError("\(labels.path): label \(labelValues[bad]) of sample \(bad) is outside 0..<\(model.classes)")
            }
        }

        var result = Result()
        let fm = FileManager.default
        if fm.fileExists(atPath: output.path) {
            throw HarnessError("\(output.path) exists; replay writes a new directory and never overwrites one")
        }
        try fm.createDirectory(at: output, withIntermediateDirectories: true)

        if model.layers.contains(where: { $0 is Dropout }) {
            result.notes.append("\(e.name) has Dropout: its masks come from FashionBench's generator, so another engine's steps will differ")
        }
        func writeLosses() throws {
            let rows = result.losses.map { [String($0.0), String($0.1)] }
            try ResultFiles.write(ResultFiles.csv(header: ["step", "loss"], rows: rows), to: output.appendingPathComponent("loss.csv"))
        }
        /// Ends the replay: failed.txt says where, the losses so far are kept, no more weights.
        func diverged(_ step: Int, _ what: String) -> HarnessError {
            try? writeLosses()
            let message = "replay diverged at step \(step): \(what)"
            try? ResultFiles.write(message + "\n", to: output.appendingPathComponent("failed.txt"))
            return HarnessError(message)
        }
        let x = FloatBuffer(count: batch * sampleSize)
        let batches = samples / batch
        try inputData.withUnsafeBytes { raw in
            let all = raw.bindMemory(to: Float.self).baseAddress!
            try labelValues.withUnsafeBufferPointer { allLabels in
                for step in 1...steps {
                    let first = ((step - 1) % batches) * batch
                    x.pointer.update(from: all + first * sampleSize, count: batch * sampleSize)
                    let r = model.trainStep(x.pointer, labels: allLabels.baseAddress! + first, batch: batch)
                    guard r.lossSum.isFinite else { throw diverged(step, "the loss is not finite (\(r.lossSum / Double(batch)))") }
                    optimizer.step()
                    result.losses.append((step, r.lossSum / Double(batch)))
                    // As in a run: weights that are not finite end it, even behind a finite loss.
                    if saveAt.contains(step) || step == steps, let p = model.firstNonFiniteParameter {
                        throw diverged(step, "\(p) holds values that are not finite after the update")
                    }
                    if saveAt.contains(step) {
                        let url = output.appendingPathComponent("weights_\(step).h5")
                        try ModelWeights.save(model, to: url, attributes: ["step": String(step), "experiment": e.name])
                        result.weightFiles.append(url)
                    }
                }
            }
        }
        try writeLosses()
        return result
    }

    private static func read(_ url: URL, what: String) throws -> Data {
        if let why = FileKind.notRegular(url.path) { throw HarnessError("cannot read the \(what) file \(url.path): it \(why)") }
        do { return try Data(contentsOf: url) } catch {
            throw HarnessError("cannot read the \(what) file \(url.path): \(error.localizedDescription)")
        }
    }
}
