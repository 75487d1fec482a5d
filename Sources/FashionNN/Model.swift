import Foundation
import Dispatch
import FashionTensor
import CKernels

/// A layer whose output activation can be fused into its loop (Dense, Conv2D, Activation).
public protocol ActivatedLayer: Layer {
    var activation: Activation { get set }
}
extension Dense: ActivatedLayer {}
extension Conv2D: ActivatedLayer {}
extension ActivationLayer: ActivatedLayer {}

/// A Keras-style Sequential model, built for a maximum batch size: every buffer is allocated
/// here, never during training.
///
/// With `workers > 1` the model is data-parallel: it holds `workers` replicas (itself and
/// copies built from `makeLayers`) that share the weights; a batch is cut into contiguous
/// shards, each replica runs forward and backward on its shard on its own core with
/// single-threaded BLAS, and the shards' gradients are added, weighted by shard size, into
/// this model's gradients. That keeps both cores busy in the element-wise, im2col and pooling
/// work too, where BLAS threading helps nothing. Results depend on `workers` (the order of
/// additions), never on timing.
public final class Sequential {
    public let inputShape: [Int]
    public let layers: [Layer]
    public let loss: Loss
    public let maxBatch: Int
    /// The activation the loss absorbed from the last layer; applied to logits for predictions.
    public let outputActivation: Activation
    /// The layer whose activation ends the model: the last, or the one before trailing
    /// Reshape/Flatten layers (the summary shows the absorbed activation there).
    private let activationIndex: Int
    private let fromLogits: Bool
    /// The model learns to reproduce its input (an autoencoder): the loss compares the outputs
    /// with the input batch instead of labels.
    public let reconstructsInput: Bool
    public var outputShape: [Int] { layers.last?.outputShape ?? inputShape }
    /// Outputs per sample: the class scores of a classifier, every value of a reconstruction.
    public var classes: Int { outputShape.reduce(1, *) }
    private let lossGradient: FloatBuffer
    /// The other replicas of a data-parallel model (empty when `workers` is 1).
    public private(set) var replicas: [Sequential] = []
    public var workers: Int { replicas.count + 1 }
    /// Layers a data-parallel model runs once over the whole batch, between the replicas'
    /// parallel parts, instead of once per replica (`Dense.runsJointly`).
    public private(set) var jointLayers: [Int] = []
    private let shardCapacity: Int
    private let names: [String?]

    /// Checks every layer's shapes in order and allocates. `fromLogits` means the last layer
    /// has no output activation and the loss applies its own. `reconstructsInput`: the targets
    /// are the inputs, so the output must have the input's shape.
    /// `names`: the experiment's own layer names (nil entries get Keras' automatic
    /// `dense`, `dense_1`, … names, skipping any name already taken).
    public convenience init(inputShape: [Int], layers: [Layer], loss: Loss, maxBatch: Int, fromLogits: Bool = false,
                            reconstructsInput: Bool = false, names: [String?] = []) throws {
        try self.init(inputShape: inputShape, layers: layers, loss: loss, maxBatch: maxBatch, fromLogits: fromLogits,
                      reconstructsInput: reconstructsInput, shardCapacity: maxBatch, names: names)
    }

    private init(inputShape: [Int], layers: [Layer], loss: Loss, maxBatch: Int, fromLogits: Bool, reconstructsInput: Bool,
                 shardCapacity: Int, names: [String?]) throws {
        self.inputShape = inputShape
        self.names = names
        self.layers = layers
        self.loss = loss
        self.maxBatch = maxBatch
        self.shardCapacity = shardCapacity
        self.fromLogits = fromLogits
        self.reconstructsInput = reconstructsInput
        var counts: [String: Int] = [:]
        let explicit = Set(names.compactMap { $0 })
        var shape = inputShape
        if !MemoryPlan.keepCounting { MemoryPlan.reset() }
        for (i, layer) in layers.enumerated() {
            if i < names.count, let name = names[i] {
                layer.name = name
            } else {
                let base = Sequential.snakeCase(type(of: layer).typeName)
                var k = counts[base, default: 0]
                while explicit.contains(k == 0 ? base : "\(base)_\(k)") { k += 1 }
                counts[base] = k + 1
                layer.name = k == 0 ? base : "\(base)_\(k)"
            }
            do {
                // The input's values can be counted (each layer's estimate covers what it makes of them).
                try checkEstimate([Double(shardCapacity)] + shape.map(Double.init))
                try layer.build(inputShape: shape, maxBatch: shardCapacity)
            } catch let e as LayerShapeError {
                throw ShapeError(layerIndex: i, layer: "\(type(of: layer).typeName) '\(layer.name)'", message: e.message)
            }
            shape = layer.outputShape
        }
        guard let last = layers.last else {
            throw ShapeError(layerIndex: 0, layer: "model", message: "has no layers")
        }
        if reconstructsInput {
            guard shape == inputShape else {
                throw ShapeError(layerIndex: layers.count - 1, layer: "\(last.typeName) '\(last.name)'",
                                 message: "reconstructs the input, so its output must have the input's shape \(shapeText(inputShape)), got \(shapeText(shape))")
            }
            guard loss.acceptsValueTargets else {
                throw ShapeError(layerIndex: layers.count - 1, layer: "\(last.typeName) '\(last.name)'",
                                 message: "reconstructs the input, which needs a loss for values (mean_squared_error or binary_crossentropy), not \(type(of: loss).names[0])")
            }
        } else if shape.count != 1 {
            throw ShapeError(layerIndex: layers.count - 1, layer: "\(last.typeName) '\(last.name)'",
                             message: "the model's output must be a vector of class scores, got \(shapeText(shape)); add Flatten before the last Dense")
        }
        let wanted = loss.outputActivation
        // The layer whose activation ends the model, looking through layers that only rearrange
        // values (Keras' Dense(784, sigmoid) → Reshape(28, 28, 1) ends in sigmoid).
        var endIndex = layers.count - 1
        while endIndex > 0, layers[endIndex] is Reshape || layers[endIndex] is Flatten { endIndex -= 1 }
        let end = layers[endIndex]
        activationIndex = endIndex
        let endName = "\(end.typeName) '\(end.name)'" + (endIndex < layers.count - 1 ? " (before the last layer, which only reshapes)" : "")
        if wanted == .linear {
            // The loss takes the outputs as they are (mean squared error): nothing to fuse.
        } else if fromLogits {
            if let a = end as? ActivatedLayer, a.activation != .linear {
                throw ShapeError(layerIndex: endIndex, layer: endName,
                                 message: "from_logits: true needs linear outputs, got activation \(a.activation.rawValue)")
            }
        } else {
            guard let a = end as? ActivatedLayer, a.activation == wanted else {
                let got = (end as? ActivatedLayer)?.activation.rawValue ?? "none"
                throw ShapeError(layerIndex: endIndex, layer: endName,
                                 message: "this loss expects the model to end in \(wanted.rawValue) (or, on a linear last layer, from_logits: true), got activation \(got)")
            }
            // Softmax normalises the last axis of its layer's output; fused into the loss, it
            // normalises the model's output vector: the same only when they are the same axis.
            if wanted == .softmax, endIndex < layers.count - 1, end.outputShape.count != 1 {
                throw ShapeError(layerIndex: endIndex, layer: endName,
                                 message: "applies softmax over the last axis of \(shapeText(end.outputShape)), which the layers after it spread out; the loss needs softmax over the model's output \(shapeText(shape)): put Flatten before this layer")
            }
            a.activation = .linear  // the loss applies it, fused
        }
        outputActivation = wanted
        let firstLearning = layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
        for (index, (source, next)) in zip(layers, layers.dropFirst()).enumerated() {
            // A convolution followed by max pooling: the convolution's backward starts from the
            // pooled gradient, a sum over the pooled values only, where that pays; otherwise
            // for ReLU the pooling's backward applies ReLU's mask, and the convolution skips
            // that pass over its (large) output.
            if let conv = source as? Conv2D, let pool = next as? MaxPooling2D {
                if conv.pooledBackwardPays(for: pool, needsInputGradient: index > firstLearning) {
                    do {
                        try conv.takeBackward(of: pool)
                    } catch let e as LayerShapeError {
                        throw ShapeError(layerIndex: index, layer: "Conv2D '\(conv.name)'", message: e.message)
                    }
                } else if conv.activation == .relu, !pool.isIdentityPool {
                    pool.masksReLU = true
                    conv.gradientArrivesMasked = true
                }
            }
            // A LeakyReLU followed by batch normalization: the normalization applies it as it
            // reads its input, and its backward to dx (the same operations, so the same bits).
            if let leaky = source as? LeakyReLU, let norm = next as? BatchNormalization {
                leaky.passesThrough = true
                norm.absorbedLeakySlope = leaky.negativeSlope
            }
        }
        lossGradient = FloatBuffer(count: shardCapacity * shape.reduce(1, *))
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var trainableCount: Int { parameters.filter(\.trainable).reduce(0) { $0 + $1.count } }
    public var nonTrainableCount: Int { parameters.filter { !$0.trainable }.reduce(0) { $0 + $1.count } }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// "layer/parameter" of the first weights or moving statistics holding NaN or ±inf, or nil.
    public var firstNonFiniteParameter: String? {
        for layer in layers {
            for p in layer.parameters where UnsafeBufferPointer(start: p.value.pointer, count: p.count).contains(where: { !$0.isFinite }) {
                return "\(layer.name)/\(p.name)"
            }
        }
        return nil
    }

    /// Makes the model data-parallel over `workers` cores: builds `workers − 1` replicas from
    /// fresh layers, each for a shard of the batch. Call before `initialize`.
    public func makeDataParallel(workers: Int, makeLayers: () throws -> [Layer]) throws {
        guard workers > 1 else { replicas = []; return }
        let shard = (maxBatch + workers - 1) / workers
        MemoryPlan.keepCounting = true
        defer { MemoryPlan.keepCounting = false }
        replicas = try (1..<workers).map { _ in
            try Sequential(inputShape: inputShape, layers: try makeLayers(), loss: loss, maxBatch: shard, fromLogits: fromLogits,
                           reconstructsInput: reconstructsInput, shardCapacity: shard, names: names)
        }
        jointLayers = layers.indices.filter { (layers[$0] as? Dense)?.runsJointly ?? false }
        for j in jointLayers {
            do {
                try (layers[j] as! Dense).prepareJoint(maxBatch: maxBatch)
            } catch let e as LayerShapeError {
                throw ShapeError(layerIndex: j, layer: "Dense '\(layers[j].name)'", message: e.message)
            }
            // `Dense.jointBackward` writes the whole batch's kernel gradient into this model's
            // layer; the replicas' own (191 MB for model_4) would never be written or read.
            let kernel = layers[j].parameters[0]
            for replica in replicas { replica.layers[j].parameters[0].gradient = kernel.gradient }
        }
    }

    /// Glorot-uniform kernels, zero biases; each layer draws from its own stream of `seed`.
    /// Replicas get their own streams (their dropout masks must differ), then share the
    /// weights of this model.
    public func initialize(seed: UInt64) {
        initializeLayers(seed: seed, replica: 0)
        for (r, replica) in replicas.enumerated() {
            replica.initializeLayers(seed: seed, replica: r + 1)
            for (mine, theirs) in zip(parameters, replica.parameters) { theirs.value = mine.value }
        }
    }

    private func initializeLayers(seed: UInt64, replica: Int) {
        for (i, layer) in layers.enumerated() {
            var g = SeededGenerator(seed: seed, stream: replica == 0 ? "layer-\(i)" : "replica-\(replica)-layer-\(i)")
            layer.initialize(using: &g)
        }
    }

    /// Logits (pre-activation outputs) for `batch` samples (of one shard).
    public func forward(_ input: UnsafeMutablePointer<Float>, batch: Int, training: Bool) -> UnsafeMutablePointer<Float> {
        precondition(batch <= shardCapacity, "batch \(batch) exceeds the model's built size \(shardCapacity)")
        var x = input
        for layer in layers { x = layer.forward(x, batch: batch, training: training) }
        return x
    }

    /// Contiguous shards of a batch, one per replica: (replica, first sample, count).
    private func shards(_ batch: Int) -> [(Sequential, Int, Int)] {
        let all = [self] + replicas
        let n = min(all.count, batch)
        return (0..<n).map { r in
            let lo = batch * r / n, hi = batch * (r + 1) / n
            return (all[r], lo, hi - lo)
        }
    }

    /// Runs `body` on every shard, concurrently when data-parallel (element-wise loops inside
    /// run on the replica's own thread).
    private func eachShard(_ batch: Int, _ body: (Sequential, Int, Int) -> (Double, Int)) -> (lossSum: Double, correct: Int) {
        precondition(batch <= maxBatch, "batch \(batch) exceeds the model's built size \(maxBatch)")
        if replicas.isEmpty { let r = body(self, 0, batch); return (r.0, r.1) }
        let parts = shards(batch)
        var results = [(Double, Int)](repeating: (0, 0), count: parts.count)
        results.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: parts.count) { i in
                let (model, first, count) = parts[i]
                out[i] = Parallel.serially { body(model, first, count) }
            }
        }
        return results.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
    }

    /// Forward, loss, backward: the batch's mean-loss gradients are left in each parameter's
    /// `gradient` (of this model; replicas' gradients are added in, weighted by shard size).
    @discardableResult
    public func trainStep(_ input: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, batch: Int) -> (lossSum: Double, correct: Int) {
        if !jointLayers.isEmpty, batch > 1 {
            let result = trainJointly(input, labels: labels, batch: batch)
            reduceGradients(shards(batch).map { Float($0.2) / Float(batch) })
            return result
        }
        let size = inputShape.reduce(1, *)
        let result = eachShard(batch) { model, first, count in
            model.trainShard(input + first * size, labels: labels + first, batch: count)
        }
        if !replicas.isEmpty { reduceGradients(shards(batch).map { Float($0.2) / Float(batch) }) }
        return result
    }

    /// `trainShard` on every shard, cut at the joint layers: the replicas run the layers
    /// between them concurrently, each on its shard; each joint layer runs once for all shards.
    private func trainJointly(_ input: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, batch: Int) -> (Double, Int) {
        let parts = shards(batch), size = inputShape.reduce(1, *)
        let batches = parts.map(\.2)
        func concurrently(_ body: (Int, Sequential, Int) -> Void) {
            DispatchQueue.concurrentPerform(iterations: parts.count) { r in
                Parallel.serially { body(r, parts[r].0, parts[r].2) }
            }
        }
        func joint(_ j: Int) -> [Dense] { parts.map { $0.0.layers[j] as! Dense } }
        // Forward, segment by segment; the last segment ends with the loss and its gradient.
        var x = parts.map { input + $0.1 * size }
        var results = [(Double, Int)](repeating: (0, 0), count: parts.count)
        var lo = 0
        for j in jointLayers + [layers.count] {
            x.withUnsafeMutableBufferPointer { x in
                results.withUnsafeMutableBufferPointer { results in
                    concurrently { r, model, count in
                        for i in lo..<j { x[r] = model.layers[i].forward(x[r], batch: count, training: true) }
                        guard j == layers.count else { return }
                        let first = parts[r].1
                        let result = model.loss.evaluate(logits: x[r], targets: model.targets(input: input + first * size, labels: labels + first),
                                                         batch: count, classes: model.classes, gradient: model.lossGradient.pointer)
                        results[r] = (result.lossSum, result.correct)
                    }
                }
            }
            if j < layers.count { x = Dense.jointForward(joint(j), inputs: x, batches: batches) }
            lo = j + 1
        }
        // Backward, segment by segment down to the first layer that learns (which needs no
        // input gradient).
        let firstLearning = layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
        var dy = parts.map { $0.0.lossGradient.pointer }
        var hi = layers.count - 1
        for j in jointLayers.reversed() + [firstLearning - 1] {
            let bottom = max(j + 1, firstLearning)
            if hi >= bottom {
                dy.withUnsafeMutableBufferPointer { dy in
                    concurrently { r, model, count in
                        for i in stride(from: hi, through: bottom, by: -1) {
                            guard let g = model.layers[i].backward(dy[r], batch: count, needsInputGradient: i > firstLearning) else { return }
                            dy[r] = g
                        }
                    }
                }
            }
            guard j >= firstLearning,
                  let gradients = Dense.jointBackward(joint(j), gradients: dy, batches: batches, needsInputGradient: j > firstLearning)
            else { break }
            dy = gradients
            hi = j - 1
        }
        return results.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
    }

    /// g ← Σ_r w_r · g_r over this model and its replicas, in replica order (in C, block by
    /// block for all replicas; for model_4 these are 48M values each).
    private func reduceGradients(_ weights: [Float]) {
        let all = ([self] + replicas).prefix(weights.count)
        let lists = all.map { $0.parameters }
        // A joint layer's kernel gradient is already the whole batch's (`Dense.jointBackward`).
        let joint = Set(jointLayers.compactMap { (layers[$0] as? Dense)?.parameters.first }.map(ObjectIdentifier.init))
        for (k, p) in parameters.enumerated() where p.trainable && !joint.contains(ObjectIdentifier(p)) {
            let out = p.gradient.pointer
            let others: [UnsafePointer<Float>?] = (1..<weights.count).map { UnsafePointer(lists[$0][k].gradient.pointer) }
            Parallel.forEachChunk(p.count, minimumChunk: 32_768) { range in
                fb_weighted_sum(out, others, weights, Int32(weights.count), range.lowerBound, range.count)
            }
        }
    }

    /// What the loss compares the outputs of a shard with.
    private func targets(input: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>) -> LossTargets {
        reconstructsInput ? .values(input) : .labels(labels)
    }

    private func trainShard(_ input: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, batch: Int) -> (Double, Int) {
        let logits = forward(input, batch: batch, training: true)
        let result = loss.evaluate(logits: logits, targets: targets(input: input, labels: labels), batch: batch, classes: classes,
                                   gradient: lossGradient.pointer)
        var dy: UnsafeMutablePointer<Float>? = lossGradient.pointer
        // The first layer never needs dLoss/dInput: nothing upstream learns from it.
        let firstLearning = layers.firstIndex { !$0.parameters.isEmpty } ?? layers.count
        for i in stride(from: layers.count - 1, through: firstLearning, by: -1) {
            dy = layers[i].backward(dy!, batch: batch, needsInputGradient: i > firstLearning)
        }
        return (result.lossSum, result.correct)
    }

    /// With `outputs`, also writes what `predict` would, from the same forward pass.
    public func evaluate(_ input: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
                         outputs: UnsafeMutablePointer<Float>? = nil) -> (lossSum: Double, correct: Int) {
        let size = inputShape.reduce(1, *)
        return eachShard(batch) { model, first, count in
            let logits = model.forward(input + first * size, batch: count, training: false)
            let r = model.loss.evaluate(logits: logits, targets: model.targets(input: input + first * size, labels: labels + first),
                                        batch: count, classes: model.classes, gradient: nil)
            if let outputs { model.activateOutputs(logits, count: count, into: outputs + first * model.classes) }
            return (r.lossSum, r.correct)
        }
    }

    /// Class probabilities (the output activation applied to the logits), written to `into`.
    public func predict(_ input: UnsafeMutablePointer<Float>, batch: Int, into out: UnsafeMutablePointer<Float>) {
        let size = inputShape.reduce(1, *), classes = classes
        _ = eachShard(batch) { model, first, count in
            let logits = model.forward(input + first * size, batch: count, training: false)
            model.activateOutputs(logits, count: count, into: out + first * classes)
            return (0, 0)
        }
    }

    private func activateOutputs(_ logits: UnsafeMutablePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        out.update(from: logits, count: count * classes)
        outputActivation.apply(out, count: count * classes, width: classes)
    }

    // MARK: - Weights

    public func snapshot() -> [[Float]] { parameters.map(\.value.array) }

    public func restore(_ weights: [[Float]]) {
        for (p, w) in zip(parameters, weights) {
            precondition(p.count == w.count)
            w.withUnsafeBufferPointer { p.value.pointer.update(from: $0.baseAddress!, count: w.count) }
        }
    }

    // MARK: - Cost and summary

    public var forwardFlopsPerSample: Int { layers.reduce(0) { $0 + $1.forwardFlopsPerSample } }

    /// Forward + backward FLOPs per training sample: backward costs two GEMMs per forward one
    /// (weights and inputs), except that the first layer skips its input gradient.
    public var trainingFlopsPerSample: Int {
        let forward = forwardFlopsPerSample
        let firstLearning = layers.first { !$0.parameters.isEmpty }?.forwardFlopsPerSample ?? 0
        return 3 * forward - firstLearning
    }

    /// A Keras-like table: layer (type), output shape, parameters; then the totals.
    public func summary(title: String) -> String {
        var rows: [(String, String, String, String)] = []
        for (i, layer) in layers.enumerated() {
            var detail = layer.summaryDetail
            if i == activationIndex, outputActivation != .linear, (layer as? ActivatedLayer)?.activation == .linear,
               !detail.hasSuffix(outputActivation.rawValue) {
                detail += detail.isEmpty ? outputActivation.rawValue : " \(outputActivation.rawValue)"
            }
            rows.append(("\(layer.name) (\(layer.typeName))", "(None, " + layer.outputShape.map(String.init).joined(separator: ", ") + ")",
                         Sequential.grouped(layer.parameterCount), detail))
        }
        let w0 = max(28, rows.map(\.0.count).max() ?? 0) + 2
        let w1 = max(22, rows.map(\.1.count).max() ?? 0) + 2
        let w2 = max(10, rows.map(\.2.count).max() ?? 0)
        func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
        func lpad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        let width = w0 + w1 + w2 + 24
        var out = "Model: \"\(title)\"  input \(shapeText(inputShape))\n"
        out += String(repeating: "━", count: width) + "\n"
        out += pad("Layer (type)", w0) + pad("Output Shape", w1) + lpad("Param #", w2) + "   Detail\n"
        out += String(repeating: "━", count: width) + "\n"
        for r in rows { out += pad(r.0, w0) + pad(r.1, w1) + lpad(r.2, w2) + "   \(r.3)\n" }
        out += String(repeating: "━", count: width) + "\n"
        out += " Total params: \(Sequential.grouped(parameterCount))\n"
        out += " Trainable params: \(Sequential.grouped(trainableCount))\n"
        out += " Non-trainable params: \(Sequential.grouped(nonTrainableCount))\n"
        return out
    }

    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0, (s.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return out
    }

    static func snakeCase(_ typeName: String) -> String {
        // Keras names: Conv2D → conv2d, MaxPooling2D → max_pooling2d, Conv2DTranspose →
        // conv2d_transpose, BatchNormalization → batch_normalization, LeakyReLU → leaky_re_lu.
        var out = ""
        let chars = Array(typeName)
        for (i, c) in chars.enumerated() {
            let afterLower = i > 0 && chars[i - 1].isLowercase
            let endsAcronym = i > 0 && !chars[i - 1].isLowercase && i + 1 < chars.count && chars[i + 1].isLowercase
            if c.isUppercase, afterLower || endsAcronym { out.append("_") }
            out.append(Character(c.lowercased()))
        }
        return out
    }
}
