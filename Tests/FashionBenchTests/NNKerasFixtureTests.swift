import Foundation
import Testing
import FashionNN
import FashionTensor

// Layers, activations, losses and optimizers against numbers computed by Keras 3.15 on
// TensorFlow 2.21 (Fixtures/keras/*.json, copied from the shared Keras reference set). The
// gradient cases use loss = Σ output · upstream_gradient. Tolerance: 1e-5 relative, 1e-6
// absolute (float32 summation order differs from TensorFlow's).

@Suite("NN vs Keras fixtures")
struct NNKerasFixtureTests {
    static func cases(_ file: String) throws -> [[String: Any]] { try NNSupport.cases(file) }

    static func namedCases(_ file: String) throws -> [String: [String: Any]] {
        try #require(try NNSupport.fixture(file)["cases"] as? [String: [String: Any]], "\(file).json: no named cases")
    }

    // MARK: Conv2D

    @Test(arguments: 0..<6)
    func conv2D(_ index: Int) throws {
        let all = try Self.cases("conv2d")
        #expect(all.count == 6, "conv2d.json has \(all.count) cases; update the test's range")
        guard index < all.count else { return }
        try NNSupport.checkConvolutionCase(all[index], index: index, layout: "(kh, kw, in, out)") { f, k, s, p in
            Conv2D(filters: f, kernelSize: (k, k), strides: (s, s), padding: p)
        }
    }

    // MARK: MaxPooling2D

    @Test(arguments: 0..<4)
    func maxPooling2D(_ index: Int) throws {
        let all = try Self.cases("max_pooling2d")
        #expect(all.count == 4, "max_pooling2d.json has \(all.count) cases; update the test's range")
        guard index < all.count else { return }
        let c = all[index]
        let note = (c["note"] as? String) ?? "case \(index)"
        let input = try c.array("input")
        let pool = try c.int("pool_size")
        let strides = (c["strides"] as? Int).map { ($0, $0) }  // Keras' default: the pool size
        let padding = try #require(Padding(rawValue: try c.string("padding")))
        let layer = MaxPooling2D(poolSize: (pool, pool), strides: strides, padding: padding)
        try layer.build(inputShape: input.sampleShape, maxBatch: input.batch)
        let expectedOutput = try c.array("output")
        #expect(layer.outputShape == expectedOutput.sampleShape, "\(note): output shape")

        let r = NNSupport.forwardBackward(layer, input.data, upstream: try c.array("upstream_gradient").data, batch: input.batch)
        NNSupport.expectMatches(r.output, expectedOutput.data, "\(note): output")
        NNSupport.expectMatches(r.inputGradient, try c.array("input_gradient").data, "\(note): input gradient")
    }

    // MARK: Dense

    @Test func dense() throws {
        for (index, c) in try Self.cases("dense").enumerated() {
            let note = (c["note"] as? String) ?? "case \(index)"
            let input = try c.array("input"), kernel = try c.array("kernel"), bias = try c.array("bias")
            let layer = Dense(units: kernel.shape[1], activation: .relu)
            try layer.build(inputShape: input.sampleShape, maxBatch: input.batch)
            let expectedOutput = try c.array("output")
            #expect(layer.outputShape == expectedOutput.sampleShape, "\(note): output shape")
            #expect(layer.parameters.map(\.shape) == [kernel.shape, bias.shape], "\(note): kernel layout (in, out)")
            NNSupport.set(layer.parameters[0], kernel.data)
            NNSupport.set(layer.parameters[1], bias.data)

            let r = NNSupport.forwardBackward(layer, input.data, upstream: try c.array("upstream_gradient").data, batch: input.batch)
            NNSupport.expectMatches(r.output, expectedOutput.data, "\(note): output")
            NNSupport.expectMatches(r.inputGradient, try c.array("input_gradient").data, "\(note): input gradient")
            NNSupport.expectMatches(r.parameterGradients[0], try c.array("kernel_gradient").data, "\(note): kernel gradient")
            NNSupport.expectMatches(r.parameterGradients[1], try c.array("bias_gradient").data, "\(note): bias gradient")
        }
    }

    // MARK: Activations

    /// leaky_relu_0.2 is checked with the LeakyReLU layer (NNLayers3KerasTests).
    @Test(arguments: [Activation.relu, .sigmoid, .tanh, .elu, .softmax])
    func activation(_ activation: Activation) throws {
        let c = try #require(try Self.namedCases("activations")[activation.rawValue], "no \(activation.rawValue) case")
        let input = try c.array("input")
        let upstream = try c.array("upstream_gradient").data
        let expectedOutput = try c.array("output").data, expectedGradient = try c.array("input_gradient").data

        // As a layer of its own…
        let layer = ActivationLayer(activation)
        try layer.build(inputShape: input.sampleShape, maxBatch: input.batch)
        let r = NNSupport.forwardBackward(layer, input.data, upstream: upstream, batch: input.batch)
        NNSupport.expectMatches(r.output, expectedOutput, "\(activation.rawValue) (Activation layer): output")
        NNSupport.expectMatches(r.inputGradient, expectedGradient, "\(activation.rawValue) (Activation layer): input gradient")

        // …and fused into Dense after an identity kernel and zero bias.
        let width = input.sampleShape.last!
        let dense = Dense(units: width, activation: activation)
        try dense.build(inputShape: input.sampleShape, maxBatch: input.batch)
        NNSupport.set(dense.parameters[0], (0..<width * width).map { $0 / width == $0 % width ? 1 : 0 })
        let d = NNSupport.forwardBackward(dense, input.data, upstream: upstream, batch: input.batch)
        NNSupport.expectMatches(d.output, expectedOutput, "\(activation.rawValue) (fused in Dense): output")
        NNSupport.expectMatches(d.inputGradient, expectedGradient, "\(activation.rawValue) (fused in Dense): input gradient")
    }

    // MARK: Losses

    /// Softmax + sparse categorical CE and sigmoid + binary CE on one-hot labels: the loss is
    /// the batch mean, the gradient dMeanLoss/dLogits.
    @Test(arguments: ["softmax_sparse_categorical_crossentropy", "sigmoid_binary_crossentropy_onehot"])
    func loss(_ name: String) throws {
        let c = try #require(try Self.namedCases("losses")[name], "no \(name) case")
        let logits = try c.array("logits")
        let labels = try #require(c["labels"] as? [Int], "labels").map(Int32.init)
        let expectedLoss = try c.double("loss")
        let loss: Loss = name.hasPrefix("softmax") ? CategoricalCrossentropy() : BinaryCrossentropy()
        let batch = logits.shape[0], classes = logits.shape[1]
        #expect(labels.count == batch)
        let gradient = FloatBuffer(count: logits.data.count)
        let result = logits.data.withUnsafeBufferPointer { z in
            labels.withUnsafeBufferPointer { l in
                loss.evaluate(logits: z.baseAddress!, labels: l.baseAddress!, batch: batch, classes: classes, gradient: gradient.pointer)
            }
        }
        let mean = result.lossSum / Double(batch)
        #expect(abs(mean - expectedLoss) <= 1e-5 * abs(expectedLoss) + 1e-6, "\(name): loss \(mean), Keras \(expectedLoss)")
        NNSupport.expectMatches(gradient.array, try c.array("logits_gradient").data, "\(name): logits gradient")
    }

    /// Reconstruction losses on dense targets of the output's shape. Keras' fixtures give the
    /// gradient with respect to the (sigmoid) prediction; our binary cross-entropy takes the
    /// pre-sigmoid values, so its gradient is Keras' times p(1 − p).
    @Test(arguments: ["mean_squared_error", "binary_crossentropy_reconstruction"])
    func reconstructionLoss(_ name: String) throws {
        let c = try #require(try Self.namedCases("losses")[name], "no \(name) case")
        let target = try c.array("target"), prediction = try c.array("prediction")
        let expectedLoss = try c.double("loss")
        let batch = prediction.shape[0], width = prediction.data.count / batch
        let mse = name == "mean_squared_error"
        let loss: Loss = mse ? MeanSquaredError() : BinaryCrossentropy()
        #expect(loss.acceptsValueTargets)
        let input = mse ? prediction.data : prediction.data.map { log($0 / (1 - $0)) }
        let gradient = FloatBuffer(count: input.count)
        let result = input.withUnsafeBufferPointer { y in
            target.data.withUnsafeBufferPointer { t in
                loss.evaluate(logits: y.baseAddress!, targets: .values(t.baseAddress!), batch: batch, classes: width, gradient: gradient.pointer)
            }
        }
        let mean = result.lossSum / Double(batch)
        #expect(abs(mean - expectedLoss) <= 1e-5 * abs(expectedLoss) + 1e-6, "\(name): loss \(mean), Keras \(expectedLoss)")
        #expect(result.correct == 0)
        let kerasGradient = try c.array("prediction_gradient").data
        let expected = mse ? kerasGradient : zip(kerasGradient, prediction.data).map { $0 * $1 * (1 - $1) }
        NNSupport.expectMatches(gradient.array, expected, rtol: 1e-4, atol: 1e-6, "\(name): gradient")
    }

    // MARK: Optimizers

    @Test(arguments: ["adam_default", "adam_lr0.01", "rmsprop_default", "rmsprop_lr1e-4"])
    func optimizer(_ name: String) throws {
        let c = try #require(try Self.namedCases("optimizers")[name], "no \(name) case")
        let config = try c.object("config")
        let lr = Float(try config.double("learning_rate")), eps = Float(try config.double("epsilon"))
        let optimizer: Optimizer
        if name.hasPrefix("adam") {
            #expect(config["amsgrad"] as? Bool == false)
            optimizer = Adam(learningRate: lr, beta1: Float(try config.double("beta_1")), beta2: Float(try config.double("beta_2")), epsilon: eps)
        } else {
            #expect((config["momentum"] as? NSNumber)?.doubleValue == 0)
            #expect(config["centered"] as? Bool == false)
            optimizer = RMSprop(learningRate: lr, rho: Float(try config.double("rho")), epsilon: eps)
        }
        let start = try c.array("weights_start")
        let p = Parameter(name: "w", shape: start.shape)
        NNSupport.set(p, start.data)
        optimizer.attach([p])
        let steps = try #require(c["steps"] as? [[String: Any]], "steps")
        #expect(steps.count == 3)
        for (t, step) in steps.enumerated() {
            let g = try step.array("gradient").data
            for i in g.indices { p.gradient.pointer[i] = g[i] }
            optimizer.step()
            NNSupport.expectMatches(p.value.array, try step.array("weights_after").data, "\(name): weights after step \(t + 1)")
        }
    }
}
