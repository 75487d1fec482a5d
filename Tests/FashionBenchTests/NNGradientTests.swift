import Foundation
import Testing
import FashionNN
import FashionTensor

// Finite-difference checks of every layer's backward pass (input and parameter gradients),
// of both losses and of a small stacked model's trainStep.

// MARK: - Cases

struct NNDenseCase: Sendable, CustomTestStringConvertible {
    let inputShape: [Int]
    let units: Int
    let activation: Activation
    var testDescription: String { "Dense(\(units), \(activation.rawValue)) on \(inputShape)" }
}

struct NNConvCase: Sendable, CustomTestStringConvertible {
    let input: [Int]  // H, W, C
    let filters: Int
    let kernel: [Int]
    let strides: [Int]
    let padding: Padding
    var activation: Activation = .linear
    var testDescription: String {
        "Conv2D(\(filters), \(kernel[0])x\(kernel[1]), /\(strides[0])x\(strides[1]), \(padding.rawValue), \(activation.rawValue)) on \(input)"
    }
    func make() -> Conv2D {
        Conv2D(filters: filters, kernelSize: (kernel[0], kernel[1]), strides: (strides[0], strides[1]),
               padding: padding, activation: activation)
    }
}

struct NNPoolCase: Sendable, CustomTestStringConvertible {
    let input: [Int]
    let pool: [Int]
    let strides: [Int]?
    let padding: Padding
    var testDescription: String {
        "MaxPooling2D(\(pool[0])x\(pool[1]), strides \(strides.map { "\($0[0])x\($0[1])" } ?? "default"), \(padding.rawValue)) on \(input)"
    }
}

enum NNGradientCases {
    static let dense: [NNDenseCase] =
        Activation.allCases.map { NNDenseCase(inputShape: [7], units: 5, activation: $0) }
        + [NNDenseCase(inputShape: [3, 4], units: 3, activation: .tanh),   // acts on the last axis
           NNDenseCase(inputShape: [2, 5], units: 4, activation: .softmax)]

    static let conv: [NNConvCase] = {
        var cases: [NNConvCase] = []
        for k in [2, 3] {
            for s in [1, 2] {
                for p in Padding.allCases {
                    cases.append(NNConvCase(input: [5, 6, 3], filters: 4, kernel: [k, k], strides: [s, s], padding: p))
                }
            }
        }
        cases += [
            NNConvCase(input: [4, 7, 2], filters: 3, kernel: [2, 3], strides: [1, 2], padding: .same),
            NNConvCase(input: [7, 7, 2], filters: 2, kernel: [2, 2], strides: [3, 3], padding: .valid),  // stride > kernel
            NNConvCase(input: [7, 7, 2], filters: 2, kernel: [2, 2], strides: [3, 3], padding: .same),
            NNConvCase(input: [3, 3, 4], filters: 2, kernel: [1, 1], strides: [1, 1], padding: .valid),
            NNConvCase(input: [2, 3, 1], filters: 2, kernel: [3, 3], strides: [1, 1], padding: .same),   // kernel > input
            NNConvCase(input: [5, 5, 2], filters: 3, kernel: [3, 3], strides: [1, 1], padding: .same, activation: .tanh),
            NNConvCase(input: [5, 5, 2], filters: 3, kernel: [3, 3], strides: [2, 2], padding: .valid, activation: .sigmoid),
            NNConvCase(input: [5, 5, 2], filters: 3, kernel: [2, 2], strides: [1, 1], padding: .same, activation: .elu),
            NNConvCase(input: [4, 4, 2], filters: 4, kernel: [3, 3], strides: [1, 1], padding: .same, activation: .softmax),
        ]
        return cases
    }()

    static let convRelu: [NNConvCase] = [
        NNConvCase(input: [5, 6, 3], filters: 4, kernel: [3, 3], strides: [1, 1], padding: .same, activation: .relu),
        NNConvCase(input: [5, 6, 2], filters: 3, kernel: [2, 2], strides: [2, 2], padding: .valid, activation: .relu),
    ]

    static let pool: [NNPoolCase] = {
        var cases: [NNPoolCase] = []
        for input in [[5, 7, 2], [6, 6, 3]] {
            for pool in [[2, 2], [3, 3]] {
                for strides in [nil, [1, 1], [2, 2], [1, 2]] as [[Int]?] {
                    for p in Padding.allCases { cases.append(NNPoolCase(input: input, pool: pool, strides: strides, padding: p)) }
                }
            }
        }
        cases += [
            NNPoolCase(input: [7, 8, 2], pool: [2, 2], strides: [3, 3], padding: .valid),  // stride > pool
            NNPoolCase(input: [7, 8, 2], pool: [2, 2], strides: [3, 3], padding: .same),
            NNPoolCase(input: [5, 6, 2], pool: [2, 3], strides: nil, padding: .same),
            NNPoolCase(input: [4, 4, 2], pool: [1, 1], strides: nil, padding: .valid),      // identity
            NNPoolCase(input: [5, 5, 2], pool: [1, 1], strides: [2, 2], padding: .valid),
            NNPoolCase(input: [2, 3, 1], pool: [3, 3], strides: [1, 1], padding: .same),    // pool > input
            // 8 channels and more (vectorized 8 at a time, then a scalar tail).
            NNPoolCase(input: [5, 5, 8], pool: [2, 2], strides: nil, padding: .same),
            NNPoolCase(input: [4, 5, 11], pool: [3, 3], strides: [1, 2], padding: .valid),
            NNPoolCase(input: [4, 4, 19], pool: [2, 2], strides: [1, 1], padding: .same),
        ]
        return cases
    }()
}

// MARK: - Layers

@Suite("NN finite-difference gradients")
struct NNGradientTests {
    /// Dense with every activation: the weights and inputs are chosen so no pre-activation is
    /// within 0.03 of ReLU's kink (a 1e-2 step moves one by at most 1e-2).
    @Test(arguments: NNGradientCases.dense)
    func dense(_ c: NNDenseCase) throws {
        let batch = 3
        let layer = Dense(units: c.units, activation: c.activation)
        try layer.build(inputShape: c.inputShape, maxBatch: batch)
        let inDim = c.inputShape.last!, rows = batch * c.inputShape.dropLast().reduce(1, *)
        var found = false
        for seed in UInt64(1)...200 {
            let x = NNSupport.uniform(batch * c.inputShape.reduce(1, *), seed: seed)
            let w = NNSupport.uniform(inDim * c.units, seed: seed + 1000)
            let b = NNSupport.uniform(c.units, seed: seed + 2000, in: -0.3...0.3)
            // Pre-activations in Double.
            var minAbs = Double.infinity
            for r in 0..<rows {
                for j in 0..<c.units {
                    var z = Double(b[j])
                    for i in 0..<inDim { z += Double(x[r * inDim + i]) * Double(w[i * c.units + j]) }
                    minAbs = min(minAbs, abs(z))
                }
            }
            if c.activation == .relu && minAbs < 0.03 { continue }
            NNSupport.set(layer.parameters[0], w)
            NNSupport.set(layer.parameters[1], b)
            NNSupport.checkLayerGradients(layer, input: x, batch: batch)
            found = true
            break
        }
        #expect(found, "no seed kept the ReLU pre-activations away from 0")
    }

    @Test(arguments: NNGradientCases.conv)
    func conv2D(_ c: NNConvCase) throws {
        let batch = 2
        let layer = c.make()
        try layer.build(inputShape: c.input, maxBatch: batch)
        NNSupport.set(layer.parameters[0], NNSupport.uniform(layer.parameters[0].count, seed: 11, in: -0.5...0.5))
        NNSupport.set(layer.parameters[1], NNSupport.uniform(layer.parameters[1].count, seed: 12, in: -0.3...0.3))
        let x = NNSupport.uniform(batch * c.input.reduce(1, *), seed: 13)
        NNSupport.checkLayerGradients(layer, input: x, batch: batch)
    }

    /// Conv2D + ReLU: a linear twin with the same weights gives the pre-activations, and the
    /// seed is chosen so none is within 0.03 of 0 (a 1e-2 step moves one by at most 1e-2).
    @Test(arguments: NNGradientCases.convRelu)
    func conv2DRelu(_ c: NNConvCase) throws {
        let batch = 2
        let layer = c.make()
        var linear = c
        linear.activation = .linear
        let twin = linear.make()
        try layer.build(inputShape: c.input, maxBatch: batch)
        try twin.build(inputShape: c.input, maxBatch: batch)
        var found = false
        for seed in UInt64(1)...300 {
            let k = NNSupport.uniform(layer.parameters[0].count, seed: seed, in: -0.5...0.5)
            let b = NNSupport.uniform(layer.parameters[1].count, seed: seed + 500, in: -0.3...0.3)
            let x = NNSupport.uniform(batch * c.input.reduce(1, *), seed: seed + 1000)
            NNSupport.set(twin.parameters[0], k)
            NNSupport.set(twin.parameters[1], b)
            let z = NNSupport.forward(twin, x, batch: batch)
            guard z.allSatisfy({ abs($0) > 0.03 }) else { continue }
            #expect(z.contains { $0 < 0 } && z.contains { $0 > 0 }, "both sides of ReLU should be exercised")
            NNSupport.set(layer.parameters[0], k)
            NNSupport.set(layer.parameters[1], b)
            NNSupport.checkLayerGradients(layer, input: x, batch: batch)
            found = true
            break
        }
        #expect(found, "no seed kept the ReLU pre-activations away from 0")
    }

    /// Inputs are distinct values at least 0.05 apart, so a 1e-2 step never changes a window's
    /// maximum.
    @Test(arguments: NNGradientCases.pool)
    func maxPooling2D(_ c: NNPoolCase) throws {
        let batch = 2
        let layer = MaxPooling2D(poolSize: (c.pool[0], c.pool[1]), strides: c.strides.map { ($0[0], $0[1]) }, padding: c.padding)
        try layer.build(inputShape: c.input, maxBatch: batch)
        let x = NNSupport.distinct(batch * c.input.reduce(1, *), seed: 21)
        NNSupport.checkLayerGradients(layer, input: x, batch: batch)
    }

    /// Max pooling forward against a direct evaluation of the windows (same padding ignores the
    /// padded cells), and backward routes each gradient to its window's maximum.
    @Test(arguments: NNGradientCases.pool)
    func maxPooling2DForward(_ c: NNPoolCase) throws {
        let batch = 2
        let layer = MaxPooling2D(poolSize: (c.pool[0], c.pool[1]), strides: c.strides.map { ($0[0], $0[1]) }, padding: c.padding)
        try layer.build(inputShape: c.input, maxBatch: batch)
        let (h, w, ch) = (c.input[0], c.input[1], c.input[2])
        let s = c.strides ?? c.pool
        let out = layer.outputShape
        let x = NNSupport.distinct(batch * h * w * ch, seed: 22)
        let y = NNSupport.forward(layer, x, batch: batch)
        var expected: [Float] = []
        for n in 0..<batch {
            for oh in 0..<out[0] {
                for ow in 0..<out[1] {
                    for k in 0..<ch {
                        let padTop = c.padding == .same ? max((out[0] - 1) * s[0] + c.pool[0] - h, 0) / 2 : 0
                        let padLeft = c.padding == .same ? max((out[1] - 1) * s[1] + c.pool[1] - w, 0) / 2 : 0
                        var best = -Float.infinity
                        for i in 0..<c.pool[0] {
                            for j in 0..<c.pool[1] {
                                let ih = oh * s[0] + i - padTop, iw = ow * s[1] + j - padLeft
                                if ih >= 0, ih < h, iw >= 0, iw < w { best = max(best, x[((n * h + ih) * w + iw) * ch + k]) }
                            }
                        }
                        expected.append(best)
                    }
                }
            }
        }
        #expect(y == expected)
    }

    /// Ties: the gradient goes to the first maximum of each window in row-major order (as
    /// TensorFlow's CPU MaxPoolGrad), once per window, accumulating where windows overlap.
    /// Values from {0, 0.5, 1} make ties frequent; channel counts cover the vectorized path.
    @Test(arguments: [1, 3, 8, 10, 17])
    func maxPooling2DTiesGoToTheFirstMaximum(_ channels: Int) throws {
        for (pool, stride, padding) in [(2, 2, Padding.valid), (3, 2, .same), (2, 1, .valid)] {
            let (batch, h, w) = (2, 5, 6)
            let layer = MaxPooling2D(poolSize: (pool, pool), strides: (stride, stride), padding: padding)
            try layer.build(inputShape: [h, w, channels], maxBatch: batch)
            var g = SeededGenerator(seed: UInt64(channels * 10 + pool))
            let x = (0..<batch * h * w * channels).map { _ in Float(g.nextInt(below: 3)) * 0.5 }
            let out = layer.outputShape
            let dy = NNSupport.uniform(batch * out.reduce(1, *), seed: 5)
            let padTop = padding == .same ? max((out[0] - 1) * stride + pool - h, 0) / 2 : 0
            let padLeft = padding == .same ? max((out[1] - 1) * stride + pool - w, 0) / 2 : 0
            var expected = [Float](repeating: 0, count: x.count)
            var o = 0
            for n in 0..<batch {
                for oh in 0..<out[0] {
                    for ow in 0..<out[1] {
                        for c in 0..<channels {
                            var best = -Float.infinity, at = -1
                            for i in 0..<pool {
                                for j in 0..<pool {
                                    let ih = oh * stride + i - padTop, iw = ow * stride + j - padLeft
                                    guard ih >= 0, ih < h, iw >= 0, iw < w else { continue }
                                    let k = ((n * h + ih) * w + iw) * channels + c
                                    if x[k] > best { best = x[k]; at = k }
                                }
                            }
                            expected[at] += dy[o]
                            o += 1
                        }
                    }
                }
            }
            let r = NNSupport.forwardBackward(layer, x, upstream: dy, batch: batch)
            NNSupport.expectMatches(r.inputGradient, expected, rtol: 1e-6, atol: 1e-7,
                                    "ties, pool \(pool) stride \(stride) \(padding.rawValue), \(channels) channels")
        }
    }

    /// Without an input gradient, the parameters' gradients are the same and nil is returned
    /// (Conv2D: a small patch, 2x2x1, and one for BLAS, 3x3x3).
    @Test func parameterGradientsWithoutInputGradient() throws {
        let batch = 2
        let layers: [(Layer, [Int])] = [
            (Conv2D(filters: 5, kernelSize: (2, 2), padding: .same, activation: .tanh), [6, 6, 1]),
            (Conv2D(filters: 4, kernelSize: (3, 3), activation: .sigmoid), [6, 6, 3]),
            (Dense(units: 4, activation: .elu), [9]),
        ]
        for (layer, shape) in layers {
            try layer.build(inputShape: shape, maxBatch: batch)
            var g = SeededGenerator(seed: 3)
            layer.initialize(using: &g)
            NNSupport.set(layer.parameters[1], NNSupport.uniform(layer.parameters[1].count, seed: 4))
            let x = NNSupport.uniform(batch * shape.reduce(1, *), seed: 5)
            let dy = NNSupport.uniform(batch * layer.outputShape.reduce(1, *), seed: 6)
            let full = NNSupport.forwardBackward(layer, x, upstream: dy, batch: batch)
            let input = FloatBuffer(x), upstream = FloatBuffer(dy)
            _ = layer.forward(input.pointer, batch: batch, training: true)
            #expect(layer.backward(upstream.pointer, batch: batch, needsInputGradient: false) == nil)
            #expect(layer.parameters.map(\.gradient.array) == full.parameterGradients, "\(layer.typeName) \(shape)")
        }
    }

    @Test(arguments: [[6], [3, 4, 2], [2, 2, 1]])
    func flatten(_ shape: [Int]) throws {
        let batch = 3
        let layer = Flatten()
        try layer.build(inputShape: shape, maxBatch: batch)
        #expect(layer.outputShape == [shape.reduce(1, *)])
        #expect(layer.parameters.isEmpty)
        let x = NNSupport.uniform(batch * shape.reduce(1, *), seed: 31)
        #expect(NNSupport.forward(layer, x, batch: batch) == x)
        NNSupport.checkLayerGradients(layer, input: x, batch: batch)
    }

    @Test(arguments: Activation.allCases)
    func activationLayer(_ activation: Activation) throws {
        let batch = 2, shape = [3, 5]
        let layer = ActivationLayer(activation)
        try layer.build(inputShape: shape, maxBatch: batch)
        #expect(layer.outputShape == shape)
        // Magnitudes in [0.1, 2]: ReLU's kink is never within a step.
        let x = NNSupport.awayFromZero(batch * 15, seed: 41, margin: 0.1, max: 2)
        NNSupport.checkLayerGradients(layer, input: x, batch: batch)
    }

    /// With the mask fixed (the layer re-seeded before every forward pass), dropout in training
    /// is linear: y = x·mask, so its gradient is the mask.
    @Test(arguments: [Float(0.25), 0.5, 0.8])
    func dropout(_ rate: Float) throws {
        let batch = 3, shape = [4, 5]
        let layer = Dropout(rate: rate)
        try layer.build(inputShape: shape, maxBatch: batch)
        func reseed() {
            var g = SeededGenerator(seed: 7)
            layer.initialize(using: &g)
        }
        let x = NNSupport.uniform(batch * 20, seed: 51)
        NNSupport.checkLayerGradients(layer, input: x, batch: batch, prepare: reseed)
    }
}

// MARK: - Losses

struct NNLossCase: Sendable, CustomTestStringConvertible {
    let binary: Bool
    let batch: Int
    let classes: Int
    let logitScale: Float
    var testDescription: String { "\(binary ? "binary" : "categorical") CE, batch \(batch), \(classes) classes, logits ±\(logitScale)" }
    var loss: Loss { binary ? BinaryCrossentropy() : CategoricalCrossentropy() }
}

@Suite("NN loss gradients")
struct NNLossGradientTests {
    static let cases: [NNLossCase] = [false, true].flatMap { binary in
        [NNLossCase(binary: binary, batch: 4, classes: 10, logitScale: 3),
         NNLossCase(binary: binary, batch: 1, classes: 3, logitScale: 1),
         NNLossCase(binary: binary, batch: 5, classes: 2, logitScale: 6)]
    }

    static func labels(_ c: NNLossCase) -> [Int32] { (0..<c.batch).map { Int32(($0 * 7 + 3) % c.classes) } }

    /// The loss in Double from its definition: mean over the batch of
    /// logsumexp(z) − z_y (categorical) or mean over outputs of softplus(z) − z·t (binary).
    static func reference(_ c: NNLossCase, _ z: [Float], _ labels: [Int32]) -> Double {
        var total = 0.0
        for i in 0..<c.batch {
            let row = z[i * c.classes..<(i + 1) * c.classes].map(Double.init)
            let y = Int(labels[i])
            if c.binary {
                var s = 0.0
                for (j, v) in row.enumerated() {
                    let p = 1 / (1 + exp(-v)), t = j == y ? 1.0 : 0.0
                    s -= t * log(p) + (1 - t) * log(1 - p)
                }
                total += s / Double(c.classes)
            } else {
                let m = row.max()!
                total += m + log(row.reduce(0) { $0 + exp($1 - m) }) - row[y]
            }
        }
        return total / Double(c.batch)
    }

    @Test(arguments: cases)
    func gradientMatchesFiniteDifferences(_ c: NNLossCase) throws {
        let loss = c.loss
        let labels = Self.labels(c)
        var z = NNSupport.uniform(c.batch * c.classes, seed: 61, in: -c.logitScale...c.logitScale)
        let gradient = FloatBuffer(count: z.count)
        let result = z.withUnsafeBufferPointer { zp in
            labels.withUnsafeBufferPointer { lp in
                loss.evaluate(logits: zp.baseAddress!, labels: lp.baseAddress!, batch: c.batch, classes: c.classes, gradient: gradient.pointer)
            }
        }
        let mean = result.lossSum / Double(c.batch)
        let expected = Self.reference(c, z, labels)
        #expect(abs(mean - expected) <= 1e-5 * abs(expected) + 1e-6, "mean loss \(mean) vs \(expected)")
        // Number of samples whose largest logit is the label.
        var correct = 0
        for i in 0..<c.batch {
            let row = Array(z[i * c.classes..<(i + 1) * c.classes])
            if row.firstIndex(of: row.max()!) == Int(labels[i]) { correct += 1 }
        }
        #expect(result.correct == correct)
        // Evaluating without a gradient gives the same loss.
        let noGradient = z.withUnsafeBufferPointer { zp in
            labels.withUnsafeBufferPointer { lp in
                loss.evaluate(logits: zp.baseAddress!, labels: lp.baseAddress!, batch: c.batch, classes: c.classes, gradient: nil)
            }
        }
        #expect(noGradient.lossSum == result.lossSum)

        let eps: Float = 1e-2
        func meanLoss() -> Double {
            z.withUnsafeBufferPointer { zp in
                labels.withUnsafeBufferPointer { lp in
                    loss.evaluate(logits: zp.baseAddress!, labels: lp.baseAddress!, batch: c.batch, classes: c.classes, gradient: nil).lossSum
                }
            } / Double(c.batch)
        }
        var numeric: [Double] = []
        for i in z.indices {
            let saved = z[i]
            z[i] = saved + eps
            let plus = meanLoss()
            z[i] = saved - eps
            let minus = meanLoss()
            z[i] = saved
            numeric.append((plus - minus) / (Double(saved + eps) - Double(saved - eps)))
        }
        NNSupport.expectClose(gradient.array.map(Double.init), numeric, tolerance: 1e-2, "dMeanLoss/dLogits (\(c.testDescription))")
    }

    /// Mean squared error (on outputs as they are) and binary cross-entropy (on pre-sigmoid
    /// values) against dense targets in [0, 1], as an autoencoder reconstructing its input:
    /// the loss from its definition in Double, the gradient by central differences.
    @Test(arguments: [(true, 1, 5), (true, 3, 12), (false, 1, 5), (false, 4, 9)])
    func valueTargets(_ c: (mse: Bool, batch: Int, width: Int)) throws {
        let loss: Loss = c.mse ? MeanSquaredError() : BinaryCrossentropy()
        let n = c.batch * c.width
        var y = NNSupport.uniform(n, seed: 71, in: c.mse ? -0.5...1.5 : -4...4)
        let t = NNSupport.uniform(n, seed: 72, in: 0...1)
        func evaluate(_ gradient: UnsafeMutablePointer<Float>?) -> Double {
            y.withUnsafeBufferPointer { yp in
                t.withUnsafeBufferPointer { tp in
                    loss.evaluate(logits: yp.baseAddress!, targets: .values(tp.baseAddress!), batch: c.batch, classes: c.width,
                                  gradient: gradient).lossSum
                }
            } / Double(c.batch)
        }
        var reference = 0.0
        for i in 0..<n {
            let v = Double(y[i]), target = Double(t[i])
            if c.mse {
                reference += (v - target) * (v - target)
            } else {
                let p = 1 / (1 + exp(-v))
                reference -= target * log(p) + (1 - target) * log(1 - p)
            }
        }
        reference /= Double(n)
        let gradient = FloatBuffer(count: n)
        let mean = evaluate(gradient.pointer)
        #expect(abs(mean - reference) <= 1e-5 * abs(reference) + 1e-6, "mean loss \(mean) vs \(reference)")
        let eps: Float = 1e-2
        var numeric: [Double] = []
        for i in 0..<n {
            let saved = y[i]
            y[i] = saved + eps
            let plus = evaluate(nil)
            y[i] = saved - eps
            let minus = evaluate(nil)
            y[i] = saved
            numeric.append((plus - minus) / (Double(saved + eps) - Double(saved - eps)))
        }
        NNSupport.expectClose(gradient.array.map(Double.init), numeric, tolerance: 1e-2,
                              "\(c.mse ? "mse" : "binary CE") d/dy, batch \(c.batch) width \(c.width)")
    }

    /// Fused with their activations, both losses stay finite for huge logits.
    @Test(arguments: [false, true])
    func largeLogitsStayFinite(_ binary: Bool) {
        let loss: Loss = binary ? BinaryCrossentropy() : CategoricalCrossentropy()
        let z: [Float] = [1000, -1000, 0, -500, 800, 3]
        let labels: [Int32] = [1, 0]
        let g = FloatBuffer(count: 6)
        let r = z.withUnsafeBufferPointer { zp in
            labels.withUnsafeBufferPointer { lp in
                loss.evaluate(logits: zp.baseAddress!, labels: lp.baseAddress!, batch: 2, classes: 3, gradient: g.pointer)
            }
        }
        #expect(r.lossSum.isFinite && r.lossSum > 0)
        #expect(g.array.allSatisfy { $0.isFinite })
        #expect(r.correct == 0)
    }
}

// MARK: - A stacked model

@Suite("NN stacked model gradients")
struct NNModelGradientTests {
    static func makeModel() throws -> Sequential {
        try Sequential(inputShape: [6, 6, 2],
                       layers: [Conv2D(filters: 3, kernelSize: (3, 3), activation: .relu), MaxPooling2D(poolSize: (2, 2)),
                                Flatten(), Dense(units: 5, activation: .softmax)],
                       loss: CategoricalCrossentropy(), maxBatch: 3)
    }

    /// Mean categorical cross-entropy in Double from the model's logits.
    static func meanLoss(_ model: Sequential, _ x: FloatBuffer, _ labels: [Int32]) -> Double {
        let batch = labels.count, classes = model.classes
        let z = model.forward(x.pointer, batch: batch, training: false)
        var total = 0.0
        for i in 0..<batch {
            let row = (0..<classes).map { Double(z[i * classes + $0]) }
            let m = row.max()!
            total += m + log(row.reduce(0) { $0 + exp($1 - m) }) - row[Int(labels[i])]
        }
        return total / Double(batch)
    }

    /// Conv2D(relu) → MaxPooling2D → Flatten → Dense(softmax) with categorical CE: every
    /// parameter's gradient from trainStep against central differences of the mean loss. The
    /// seed is chosen so that no ReLU pre-activation is near 0 and no pooling window has two
    /// positive values within 0.02 of each other (a linear twin of the Conv2D shows them).
    @Test func convPoolDenseSoftmax() throws {
        let batch = 3
        let labels: [Int32] = [4, 0, 2]
        let model = try Self.makeModel()
        #expect(model.outputShape == [5])
        #expect(model.layers.map(\.outputShape) == [[4, 4, 3], [2, 2, 3], [12], [5]])
        let twin = Conv2D(filters: 3, kernelSize: (3, 3))
        try twin.build(inputShape: [6, 6, 2], maxBatch: batch)

        var chosen: (x: [Float], seed: UInt64)?
        for seed in UInt64(1)...300 {
            model.initialize(seed: seed)
            // Non-zero biases, so their gradients are tested at a generic point.
            for layer in model.layers where !layer.parameters.isEmpty {
                NNSupport.set(layer.parameters[1], NNSupport.uniform(layer.parameters[1].count, seed: seed + 7, in: -0.2...0.2))
            }
            let x = NNSupport.uniform(batch * 72, seed: seed + 100)
            for (p, q) in zip(twin.parameters, model.layers[0].parameters) { p.value.copy(from: q.value) }
            let z = NNSupport.forward(twin, x, batch: batch)
            guard z.allSatisfy({ abs($0) > 0.02 }) else { continue }
            // Pooling windows (2x2 over the 4x4x3 ReLU output).
            var separated = true
            for n in 0..<batch {
                for oh in 0..<2 {
                    for ow in 0..<2 {
                        for c in 0..<3 {
                            var values: [Float] = []
                            for i in 0..<2 { for j in 0..<2 { values.append(max(0, z[((n * 4 + oh * 2 + i) * 4 + ow * 2 + j) * 3 + c])) } }
                            values.sort(by: >)
                            if values[0] > 0 && values[0] - values[1] < 0.02 { separated = false }
                        }
                    }
                }
            }
            if separated { chosen = (x, seed); break }
        }
        let (input, _) = try #require(chosen, "no seed kept ReLU and pooling away from their kinks")
        let x = FloatBuffer(input)

        let result = labels.withUnsafeBufferPointer { model.trainStep(x.pointer, labels: $0.baseAddress!, batch: batch) }
        let mean = Self.meanLoss(model, x, labels)
        #expect(abs(result.lossSum / Double(batch) - mean) < 1e-5 * mean, "trainStep's loss \(result.lossSum / 3) vs \(mean)")
        let analytic = model.parameters.map(\.gradient.array)
        #expect(model.parameters.count == 4)

        let names = model.layers.flatMap { layer in layer.parameters.map { "\(layer.name).\($0.name)" } }
        let eps: Float = 1e-3
        for (k, p) in model.parameters.enumerated() {
            let w = p.value.pointer
            var numeric: [Double] = []
            for i in 0..<p.count {
                let saved = w[i]
                w[i] = saved + eps
                let plus = Self.meanLoss(model, x, labels)
                w[i] = saved - eps
                let minus = Self.meanLoss(model, x, labels)
                w[i] = saved
                numeric.append((plus - minus) / (Double(saved + eps) - Double(saved - eps)))
            }
            NNSupport.expectClose(analytic[k].map(Double.init), numeric, tolerance: 1e-2,
                                  "dMeanLoss/d\(names[k])")
        }
    }

    /// trainStep leaves the model's input untouched and returns the same loss as evaluate.
    @Test func trainStepAgreesWithEvaluate() throws {
        let model = try Self.makeModel()
        model.initialize(seed: 5)
        let input = NNSupport.uniform(3 * 72, seed: 77)
        let x = FloatBuffer(input)
        let labels: [Int32] = [1, 3, 4]
        let train = labels.withUnsafeBufferPointer { model.trainStep(x.pointer, labels: $0.baseAddress!, batch: 3) }
        #expect(x.array == input)
        let eval = labels.withUnsafeBufferPointer { model.evaluate(x.pointer, labels: $0.baseAddress!, batch: 3) }
        #expect(train.lossSum == eval.lossSum)
        #expect(train.correct == eval.correct)
        // predict gives softmax probabilities.
        let out = FloatBuffer(count: 15)
        model.predict(x.pointer, batch: 3, into: out.pointer)
        for i in 0..<3 {
            let row = out.array[i * 5..<(i + 1) * 5]
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            #expect(row.allSatisfy { $0 > 0 })
        }
    }
}
