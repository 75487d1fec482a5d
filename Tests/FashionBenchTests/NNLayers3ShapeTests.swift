import Foundation
import Testing
import FashionConfig
import FashionNN
import FashionTensor
import FashionExperiments

// Shapes, options and model-level bookkeeping of BatchNormalization, LeakyReLU, Reshape and
// Conv2DTranspose: Keras' transposed-convolution output lengths, Reshape's errors, experiment
// file options, the summary's non-trainable count and the BLAS-mode choice for BatchNorm.

struct NNTransposeShapeCase: Sendable, CustomTestStringConvertible {
    let input: [Int]
    let kernel: [Int]
    let strides: [Int]
    let padding: Padding
    let output: [Int]  // H, W as Keras computes them
    var testDescription: String { "\(input) k\(kernel) s\(strides) \(padding.rawValue) → \(output)" }
}

@Suite("NN layers 3 shapes and options")
struct NNLayers3ShapeTests {
    /// Keras' deconv_output_length: valid → in·s + max(k − s, 0), same → in·s. Numbers written
    /// out, not computed, including a stride larger than the kernel (valid then gives in·s,
    /// not (in − 1)·s + k).
    static let table: [NNTransposeShapeCase] = [
        NNTransposeShapeCase(input: [4, 4], kernel: [3, 3], strides: [1, 1], padding: .valid, output: [6, 6]),
        NNTransposeShapeCase(input: [4, 4], kernel: [3, 3], strides: [1, 1], padding: .same, output: [4, 4]),
        NNTransposeShapeCase(input: [4, 4], kernel: [3, 3], strides: [2, 2], padding: .valid, output: [9, 9]),
        NNTransposeShapeCase(input: [4, 4], kernel: [3, 3], strides: [2, 2], padding: .same, output: [8, 8]),
        NNTransposeShapeCase(input: [4, 4], kernel: [2, 2], strides: [2, 2], padding: .valid, output: [8, 8]),
        NNTransposeShapeCase(input: [4, 4], kernel: [2, 2], strides: [2, 2], padding: .same, output: [8, 8]),
        NNTransposeShapeCase(input: [4, 4], kernel: [2, 2], strides: [3, 3], padding: .valid, output: [12, 12]),
        NNTransposeShapeCase(input: [4, 4], kernel: [2, 2], strides: [3, 3], padding: .same, output: [12, 12]),
        NNTransposeShapeCase(input: [5, 7], kernel: [5, 1], strides: [1, 1], padding: .valid, output: [9, 7]),
        NNTransposeShapeCase(input: [5, 7], kernel: [4, 3], strides: [2, 3], padding: .valid, output: [12, 21]),
        NNTransposeShapeCase(input: [5, 7], kernel: [4, 3], strides: [2, 3], padding: .same, output: [10, 21]),
        NNTransposeShapeCase(input: [1, 1], kernel: [3, 3], strides: [1, 1], padding: .valid, output: [3, 3]),
        NNTransposeShapeCase(input: [60, 60], kernel: [3, 3], strides: [1, 1], padding: .same, output: [60, 60]),
        NNTransposeShapeCase(input: [7, 7], kernel: [3, 3], strides: [2, 2], padding: .valid, output: [15, 15]),
    ]

    @Test(arguments: table)
    func conv2DTransposeOutputShape(_ c: NNTransposeShapeCase) throws {
        let layer = Conv2DTranspose(filters: 5, kernelSize: (c.kernel[0], c.kernel[1]), strides: (c.strides[0], c.strides[1]), padding: c.padding)
        try layer.build(inputShape: c.input + [3], maxBatch: 1)
        #expect(layer.outputShape == c.output + [5])
        #expect(layer.parameters.map(\.shape) == [[c.kernel[0], c.kernel[1], 5, 3], [5]], "kernel (kh, kw, out, in)")
        #expect(Conv2DTranspose.outputLength(input: c.input[0], kernel: c.kernel[0], stride: c.strides[0], padding: c.padding) == c.output[0])
    }

    @Test func conv2DTransposeNeedsAnImage() throws {
        let layer = Conv2DTranspose(filters: 2, kernelSize: (3, 3))
        let error = #expect(throws: LayerShapeError.self) { try layer.build(inputShape: [4, 4], maxBatch: 1) }
        #expect(error?.message.contains("(4, 4)") == true)
    }

    /// Glorot uniform with Keras' fans for a (kh, kw, OUT, IN) kernel: limit
    /// sqrt(6 / (kh·kw·OUT + kh·kw·IN)); zero bias.
    @Test func conv2DTransposeInitialisation() throws {
        let layer = Conv2DTranspose(filters: 8, kernelSize: (3, 3))
        try layer.build(inputShape: [4, 4, 2], maxBatch: 1)
        NNSupport.set(layer.parameters[1], [Float](repeating: 1, count: 8))
        var g = SeededGenerator(seed: 9)
        layer.initialize(using: &g)
        let limit = Float((6.0 / Double(9 * 8 + 9 * 2)).squareRoot())
        let w = layer.parameters[0].value.array
        #expect(w.allSatisfy { abs($0) <= limit })
        #expect(w.map(abs).max()! > 0.9 * limit, "values should fill the range")
        #expect(layer.parameters[1].value.array == [Float](repeating: 0, count: 8))
    }

    // MARK: Reshape

    @Test func reshapeErrorNamesBothShapes() throws {
        let layer = Reshape(targetShape: [5, 5])
        let error = #expect(throws: LayerShapeError.self) { try layer.build(inputShape: [2, 3, 4], maxBatch: 1) }
        let message = error?.message ?? ""
        #expect(message.contains("(2, 3, 4)") && message.contains("(5, 5)"), "\(message)")
        #expect(message.contains("24") && message.contains("25"), "\(message)")
    }

    /// In a model: the ShapeError names the layer, and an experiment file names its line.
    @Test func reshapeErrorInAModelAndAFile() throws {
        let error = #expect(throws: ShapeError.self) {
            try Sequential(inputShape: [4, 4, 1], layers: [Reshape(targetShape: [3, 5]), Flatten(), Dense(units: 2, activation: .softmax)],
                           loss: CategoricalCrossentropy(), maxBatch: 1)
        }
        #expect(error?.layerIndex == 0)
        #expect(error?.description.contains("Reshape") == true && error?.description.contains("(3, 5)") == true)

        let message = Self.configError(Self.experiment(layers: "    - {type: Reshape, target_shape: [3, 5]}"))
        #expect(message?.contains("x.yaml:") == true && message?.contains("(4, 4, 1)") == true && message?.contains("(3, 5)") == true,
                "\(message ?? "no error")")
    }

    @Test(arguments: [("target_shape: [0, 16]", "target_shape must be positive sizes, one of which may be -1"),
                      ("target_shape: [-1, -1]", "target_shape must be positive sizes, one of which may be -1"),
                      ("target_shape: [-1, 5]", "(16 values) to target_shape (-1, 5) (a multiple of 5 values)"),
                      ("target_shape: [-2, 8]", "target_shape[0]"), ("target_shape: [1, 2, 2, 4]", "list of 1 to 3 integers"),
                      ("target_shape: 16", "list of 1 to 3 integers"), ("shape: [16]", "target_shape is required")])
    func reshapeOptionErrors(_ c: (String, String)) {
        let message = Self.configError(Self.experiment(layers: "    - {type: Reshape, \(c.0)}"))
        #expect(message?.contains(c.1) == true, "\(message ?? "no error")")
    }

    // MARK: Options

    @Test func layerOptionsFromAnExperimentFile() throws {
        let e = try Experiment.parse(yaml: Self.experiment(layers: """
            - {type: Reshape, target_shape: [2, 8]}
            - {type: LeakyReLU}
            - {type: LeakyReLU, negative_slope: 0.1}
            - {type: BatchNormalization}
            - {type: BatchNormalization, momentum: 0.9, epsilon: 0.01, center: false, scale: false}
            - {type: Reshape, target_shape: [4, 4, 1]}
            - {type: Conv2DTranspose, filters: 3, kernel_size: 3, strides: 2, padding: same, activation: relu}
        """), file: "x.yaml")
        let layers = try e.model.layers.map { try $0.make() }
        #expect((layers[1] as? LeakyReLU)?.negativeSlope == 0.3)
        #expect((layers[2] as? LeakyReLU)?.negativeSlope == 0.1)
        let bn = try #require(layers[3] as? BatchNormalization), custom = try #require(layers[4] as? BatchNormalization)
        #expect(bn.momentum == 0.99 && bn.epsilon == 0.001 && bn.center && bn.scale)
        #expect(custom.momentum == 0.9 && custom.epsilon == 0.01 && !custom.center && !custom.scale)
        let t = try #require(layers[6] as? Conv2DTranspose)
        #expect(t.filters == 3 && t.kernelSize == (3, 3) && t.strides == (2, 2) && t.padding == .same && t.activation == .relu)
        for key in ["negative_slope: 0.3", "momentum: 0.99", "epsilon: 0.001", "center: true", "scale: true"] {
            #expect(e.resolvedYAML.contains(key), "resolved YAML lacks \(key)")
        }
        let plan = try RunPlan(experiment: e, loadData: false)
        #expect(plan.model.layers.map(\.outputShape)[0...6] == [[2, 8], [2, 8], [2, 8], [2, 8], [2, 8], [4, 4, 1], [8, 8, 3]])
        // BatchNormalization without scale and center keeps only its moving statistics.
        #expect(plan.model.layers[4].parameters.map(\.name) == ["moving_mean", "moving_variance"])
    }

    @Test(arguments: [("{type: LeakyReLU, negative_slope: -0.1}", "negative_slope must be"),
                      ("{type: LeakyReLU, alpha: 0.1, negative_slope: 0.2}", "alpha is Keras' old name for negative_slope; give one of the two"),
                      ("{type: LeakyReLU, alpha: -1}", "alpha must be"),
                      ("{type: BatchNormalization, momentum: 1.5}", "momentum must be"),
                      ("{type: BatchNormalization, epsilon: 0}", "epsilon must be"),
                      ("{type: BatchNormalization, axis: 1}", "axis is not a known key"),
                      ("{type: Conv2DTranspose, kernel_size: 3}", "filters is required"),
                      ("{type: Conv2DTranspose, filters: 2, kernel_size: 3, padding: full}", "padding must be one of valid, same")])
    func optionErrors(_ c: (String, String)) {
        let message = Self.configError(Self.experiment(layers: "    - \(c.0)"))
        #expect(message?.contains(c.1) == true, "\(message ?? "no error")")
    }

    /// Keras' spellings: LeakyReLU's `alpha` (its name before Keras 3) and a -1 in Reshape.
    @Test func kerasAliasesAndInferredSizes() throws {
        let e = try Experiment.parse(yaml: Self.experiment(layers: """
            - {type: LeakyReLU, alpha: 0.2}
            - {type: Reshape, target_shape: [-1, 8]}
            - {type: Reshape, target_shape: [4, -1, 1]}
            - {type: LeakyReLU, alpha: null}
            - {type: LeakyReLU, alpha: 0.1, negative_slope: null}
        """), file: "x.yaml")
        let plan = try RunPlan(experiment: e, loadData: false)
        #expect((plan.model.layers[0] as? LeakyReLU)?.negativeSlope == 0.2)
        #expect(plan.model.layers[1].outputShape == [2, 8] && plan.model.layers[2].outputShape == [4, 4, 1])
        // A key written null means its default, as everywhere.
        #expect((plan.model.layers[3] as? LeakyReLU)?.negativeSlope == 0.3 && (plan.model.layers[4] as? LeakyReLU)?.negativeSlope == 0.1)
    }

    /// An activation the loss fuses may stand before layers that only reshape (Keras'
    /// Dense(784, sigmoid) → Reshape(28, 28, 1) autoencoder): the same loss and gradients as
    /// with the sigmoid as the last layer; from_logits after it would apply it twice.
    @Test func fusedActivationBeforeAReshape() throws {
        func model(_ layers: [Layer], fromLogits: Bool = false) throws -> Sequential {
            let m = try Sequential(inputShape: [2, 3, 1], layers: layers, loss: BinaryCrossentropy(), maxBatch: 4, fromLogits: fromLogits,
                                   reconstructsInput: true)
            m.initialize(seed: 9)
            return m
        }
        let before = try model([Flatten(), Dense(units: 6, activation: .sigmoid), Reshape(targetShape: [2, 3, 1])])
        let after = try model([Flatten(), Dense(units: 6), Reshape(targetShape: [2, 3, 1]), ActivationLayer(.sigmoid)])
        var input = (0..<24).map { Float(($0 * 7) % 11) / 11 }
        let labels = [Int32](repeating: 0, count: 4)
        let a = input.withUnsafeMutableBufferPointer { before.trainStep($0.baseAddress!, labels: labels, batch: 4) }
        let b = input.withUnsafeMutableBufferPointer { after.trainStep($0.baseAddress!, labels: labels, batch: 4) }
        #expect(a.lossSum == b.lossSum && a.lossSum > 0)
        // The summary shows the absorbed sigmoid on the layer it came from.
        let denseRow = before.summary(title: "t").split(separator: "\n").first { $0.hasPrefix("dense (Dense)") }
        #expect(denseRow?.hasSuffix("sigmoid") == true, "\(String(describing: denseRow))")
        for (p, q) in zip(before.parameters, after.parameters) { #expect(p.gradient.array == q.gradient.array, "\(p.name)") }

        let twice = #expect(throws: ShapeError.self) {
            try model([Flatten(), Dense(units: 6, activation: .sigmoid), Reshape(targetShape: [2, 3, 1])], fromLogits: true)
        }
        #expect(twice?.layerIndex == 1 && twice?.description.contains("from_logits: true needs linear outputs, got activation sigmoid") == true,
                "\(String(describing: twice))")
        // Softmax over the last axis of an image, then flattened, is not the softmax over the vector.
        let spread = #expect(throws: ShapeError.self) {
            try Sequential(inputShape: [2, 3, 1], layers: [Dense(units: 2, activation: .softmax), Flatten()], loss: CategoricalCrossentropy(), maxBatch: 4)
        }
        #expect(spread?.description.contains("put Flatten before this layer") == true, "\(String(describing: spread))")
    }

    /// Sizes so large that their products wrap around Int (the release build does not trap on
    /// overflow) are refused as too much memory, naming the layer, before anything is allocated.
    @Test(arguments: ["- {type: MaxPooling2D, pool_size: 4}\n    - {type: Dense, units: 4194303}\n    - {type: Conv2DTranspose, filters: 65536, kernel_size: 4096, padding: same}",
                      "- {type: MaxPooling2D, pool_size: 4}\n    - {type: Dense, units: 16777216}\n    - {type: Conv2D, filters: 10922, kernel_size: 4096, padding: same}",
                      "- {type: Conv2DTranspose, filters: 65536, kernel_size: 4096, strides: 4096}"])
    func absurdSizesAreRefusedNotWrapped(_ layers: String) {
        let message = Self.configError(Self.experiment(layers: "    " + layers))
        #expect(message?.contains("GiB of buffers") == true && message?.contains("x.yaml:") == true, "\(message ?? "no error")")
    }

    // MARK: Model bookkeeping

    /// Seed 002's autoencoder as its printed summary shows: 7,699,091 parameters of which 448
    /// non-trainable (the moving mean and variance of BatchNormalization over 64, 64, 64 and 32
    /// channels). Sequential needs a vector output, so a Flatten ends the model, with the loss
    /// from logits (the sigmoid is Keras' separate Activation layer, which has no weights).
    @Test func autoencoderParameterCounts() throws {
        var layers: [Layer] = [Conv2D(filters: 64, kernelSize: (3, 3), padding: .same), LeakyReLU(), BatchNormalization(),
                               Flatten(), Dense(units: 16), Dense(units: 60 * 60 * 64), Reshape(targetShape: [60, 60, 64])]
        for f in [64, 64, 32] {
            layers += [Conv2DTranspose(filters: f, kernelSize: (3, 3), padding: .same), LeakyReLU(), BatchNormalization()]
        }
        layers += [Conv2DTranspose(filters: 3, kernelSize: (3, 3), padding: .same), Flatten()]
        let model = try Sequential(inputShape: [60, 60, 3], layers: layers, loss: BinaryCrossentropy(), maxBatch: 1, fromLogits: true)
        #expect(model.outputShape == [60 * 60 * 3])
        #expect(model.layers[16].outputShape == [60, 60, 3])
        #expect(model.parameterCount == 7_699_091)
        #expect(model.nonTrainableCount == 448)
        #expect(model.trainableCount == 7_699_091 - 448)
        let summary = model.summary(title: "autoencoder")
        #expect(summary.contains("Total params: 7,699,091"))
        #expect(summary.contains("Non-trainable params: 448"))
        #expect(summary.contains("batch_normalization_3 (BatchNormalization)"))
        #expect(summary.contains("leaky_re_lu_3 (LeakyReLU)"))
        // Moving statistics get no gradient buffer: optimizers skip non-trainable parameters.
        #expect(model.parameters.filter { !$0.trainable }.allSatisfy { $0.gradient.count == 0 })
    }

    /// BatchNormalization's statistics are the whole batch's: the plan never shards such a
    /// model over replicas (`auto` keeps one model; asking for `data` is an error at the key);
    /// without it, the same file runs data-parallel.
    @Test func batchNormalizationKeepsOneReplica() throws {
        let layers = "    - {type: Reshape, target_shape: [4, 4, 1]}\n    - {type: BatchNormalization}"
        let withBN = Self.experiment(layers: layers, training: "  threads: 2\n  parallelism: auto\n")
        let plan = try RunPlan(experiment: try Experiment.parse(yaml: withBN, file: "x.yaml"), loadData: false)
        #expect(plan.dataParallelWorkers == 1)
        #expect(plan.model.replicas.isEmpty)
        let asked = Self.experiment(layers: layers, training: "  threads: 2\n  parallelism: data\n")
        do {
            _ = try RunPlan(experiment: try Experiment.parse(yaml: asked, file: "x.yaml"), loadData: false)
            Issue.record("parallelism: data with BatchNormalization was accepted")
        } catch let e as ConfigError {
            #expect(e.path == "training.parallelism" && e.line > 1 && e.message.contains("BatchNormalization"), "\(e)")
        }
        let without = Self.experiment(layers: "    - {type: Reshape, target_shape: [4, 4, 1]}\n    - {type: LeakyReLU}",
                                      training: "  threads: 2\n  parallelism: data\n")
        let control = try RunPlan(experiment: try Experiment.parse(yaml: without, file: "x.yaml"), loadData: false)
        #expect(control.dataParallelWorkers == 2)
    }

    // MARK: Helpers

    /// A small experiment on 4x4x1 inputs: the given layers, then Flatten and Dense(10, softmax).
    static func experiment(layers: String, training: String = "") -> String {
        """
        name: layers3
        model:
          input_shape: [4, 4, 1]
          layers:
        \(layers)
            - type: Flatten
            - {type: Dense, units: 10, activation: softmax}
        training:
          epochs: 1
          batch_size: 8
        \(training)
        """
    }

    /// The ConfigError message of parsing and planning `yaml`, or nil when it is valid.
    static func configError(_ yaml: String) -> String? {
        do {
            _ = try RunPlan(experiment: try Experiment.parse(yaml: yaml, file: "x.yaml"), loadData: false)
            return nil
        } catch let e as ConfigError {
            return e.description
        } catch {
            return "unexpected error type: \(error)"
        }
    }
}

@Suite struct KerasLayerNamesTests {
    /// The names Keras gives: conv2d_transpose, batch_normalization, leaky_re_lu, max_pooling2d.
    @Test func namesFollowKeras() throws {
        let layers: [Layer] = [Conv2D(filters: 2, kernelSize: (2, 2), padding: .same), BatchNormalization(), LeakyReLU(),
                               MaxPooling2D(poolSize: (1, 1)), Conv2DTranspose(filters: 2, kernelSize: (2, 2), padding: .same),
                               Conv2DTranspose(filters: 2, kernelSize: (2, 2), padding: .same), Flatten(), Dense(units: 3, activation: .softmax)]
        let model = try Sequential(inputShape: [4, 4, 1], layers: layers, loss: CategoricalCrossentropy(), maxBatch: 1)
        #expect(model.layers.map(\.name) == ["conv2d", "batch_normalization", "leaky_re_lu", "max_pooling2d",
                                             "conv2d_transpose", "conv2d_transpose_1", "flatten", "dense"])
    }
}
