import Foundation
import Testing
import FashionNN
import FashionTensor

// Padding arithmetic against the output sizes Keras/TensorFlow give:
//   valid: floor((n − k) / s) + 1  (an error when k > n)
//   same:  ceil(n / s), padding split with the smaller half before.
// and the errors a model that does not fit its input must raise.

/// One spatial configuration and the output size Keras reports for it.
struct NNWindowCase: Sendable, CustomTestStringConvertible {
    let input: Int, kernel: Int, stride: Int
    let padding: Padding
    let keras: Int
    var testDescription: String { "n \(input), k \(kernel), s \(stride), \(padding.rawValue) → \(keras)" }
}

@Suite("NN padding and shapes")
struct NNPaddingTests {
    /// (input, kernel, stride, padding) → Keras output size. Includes the fixtures' cases
    /// (6 with k 2/3, s 1/2; pools on 5, 4 and 8), odd sizes, strides larger than the kernel,
    /// 1-wide kernels and pools, and `same` with a kernel larger than the input.
    static let conv: [NNWindowCase] = [
        NNWindowCase(input: 28, kernel: 3, stride: 1, padding: .valid, keras: 26),
        NNWindowCase(input: 28, kernel: 3, stride: 1, padding: .same, keras: 28),
        NNWindowCase(input: 28, kernel: 5, stride: 2, padding: .valid, keras: 12),
        NNWindowCase(input: 28, kernel: 5, stride: 2, padding: .same, keras: 14),
        NNWindowCase(input: 6, kernel: 2, stride: 1, padding: .same, keras: 6),
        NNWindowCase(input: 6, kernel: 2, stride: 1, padding: .valid, keras: 5),
        NNWindowCase(input: 6, kernel: 3, stride: 2, padding: .same, keras: 3),
        NNWindowCase(input: 6, kernel: 3, stride: 2, padding: .valid, keras: 2),
        NNWindowCase(input: 6, kernel: 2, stride: 2, padding: .same, keras: 3),
        NNWindowCase(input: 7, kernel: 2, stride: 2, padding: .valid, keras: 3),
        NNWindowCase(input: 7, kernel: 2, stride: 2, padding: .same, keras: 4),
        NNWindowCase(input: 7, kernel: 3, stride: 2, padding: .valid, keras: 3),
        NNWindowCase(input: 7, kernel: 3, stride: 2, padding: .same, keras: 4),
        NNWindowCase(input: 5, kernel: 1, stride: 3, padding: .valid, keras: 2),
        NNWindowCase(input: 5, kernel: 1, stride: 3, padding: .same, keras: 2),
        NNWindowCase(input: 5, kernel: 2, stride: 3, padding: .valid, keras: 2),
        NNWindowCase(input: 6, kernel: 2, stride: 4, padding: .valid, keras: 2),
        NNWindowCase(input: 6, kernel: 2, stride: 4, padding: .same, keras: 2),
        NNWindowCase(input: 9, kernel: 4, stride: 3, padding: .valid, keras: 2),
        NNWindowCase(input: 9, kernel: 4, stride: 3, padding: .same, keras: 3),
        NNWindowCase(input: 3, kernel: 3, stride: 1, padding: .valid, keras: 1),
        NNWindowCase(input: 3, kernel: 3, stride: 5, padding: .valid, keras: 1),
        NNWindowCase(input: 1, kernel: 1, stride: 1, padding: .valid, keras: 1),
        NNWindowCase(input: 2, kernel: 3, stride: 1, padding: .same, keras: 2),
        NNWindowCase(input: 2, kernel: 3, stride: 2, padding: .same, keras: 1),
        NNWindowCase(input: 1, kernel: 5, stride: 1, padding: .same, keras: 1),
    ]

    static let pool: [NNWindowCase] = [
        NNWindowCase(input: 28, kernel: 2, stride: 2, padding: .valid, keras: 14),
        NNWindowCase(input: 5, kernel: 2, stride: 2, padding: .valid, keras: 2),
        NNWindowCase(input: 5, kernel: 2, stride: 2, padding: .same, keras: 3),
        NNWindowCase(input: 4, kernel: 1, stride: 1, padding: .valid, keras: 4),
        NNWindowCase(input: 4, kernel: 1, stride: 1, padding: .same, keras: 4),
        NNWindowCase(input: 8, kernel: 3, stride: 3, padding: .valid, keras: 2),
        NNWindowCase(input: 8, kernel: 3, stride: 3, padding: .same, keras: 3),
        NNWindowCase(input: 5, kernel: 3, stride: 3, padding: .valid, keras: 1),
        NNWindowCase(input: 5, kernel: 3, stride: 3, padding: .same, keras: 2),
        NNWindowCase(input: 4, kernel: 1, stride: 2, padding: .valid, keras: 2),
        NNWindowCase(input: 7, kernel: 3, stride: 2, padding: .valid, keras: 3),
        NNWindowCase(input: 7, kernel: 3, stride: 2, padding: .same, keras: 4),
        NNWindowCase(input: 8, kernel: 2, stride: 3, padding: .valid, keras: 3),
        NNWindowCase(input: 8, kernel: 2, stride: 3, padding: .same, keras: 3),
        NNWindowCase(input: 7, kernel: 2, stride: 1, padding: .valid, keras: 6),
        NNWindowCase(input: 1, kernel: 2, stride: 2, padding: .same, keras: 1),
        NNWindowCase(input: 14, kernel: 2, stride: 2, padding: .same, keras: 7),
    ]

    @Test(arguments: conv)
    func conv2DOutputSize(_ c: NNWindowCase) throws {
        #expect(c.padding.outputLength(input: c.input, kernel: c.kernel, stride: c.stride) == c.keras)
        // Square, and along each axis alone (the other axis 5 wide, kernel 1, stride 1).
        let square = Conv2D(filters: 3, kernelSize: (c.kernel, c.kernel), strides: (c.stride, c.stride), padding: c.padding)
        try square.build(inputShape: [c.input, c.input, 2], maxBatch: 2)
        #expect(square.outputShape == [c.keras, c.keras, 3])
        #expect(square.parameters.map(\.shape) == [[c.kernel, c.kernel, 2, 3], [3]])
        let tall = Conv2D(filters: 1, kernelSize: (c.kernel, 1), strides: (c.stride, 1), padding: c.padding)
        try tall.build(inputShape: [c.input, 5, 1], maxBatch: 1)
        #expect(tall.outputShape == [c.keras, 5, 1])
        let wide = Conv2D(filters: 1, kernelSize: (1, c.kernel), strides: (1, c.stride), padding: c.padding)
        try wide.build(inputShape: [5, c.input, 1], maxBatch: 1)
        #expect(wide.outputShape == [5, c.keras, 1])
    }

    @Test(arguments: pool)
    func maxPooling2DOutputSize(_ c: NNWindowCase) throws {
        #expect(c.padding.outputLength(input: c.input, kernel: c.kernel, stride: c.stride) == c.keras)
        let layer = MaxPooling2D(poolSize: (c.kernel, c.kernel), strides: (c.stride, c.stride), padding: c.padding)
        try layer.build(inputShape: [c.input, c.input, 3], maxBatch: 2)
        #expect(layer.outputShape == [c.keras, c.keras, 3])
        #expect(layer.parameters.isEmpty)
        let rect = MaxPooling2D(poolSize: (c.kernel, 1), strides: (c.stride, 1), padding: c.padding)
        try rect.build(inputShape: [c.input, 4, 1], maxBatch: 1)
        #expect(rect.outputShape == [c.keras, 4, 1])
        if c.kernel == c.stride {
            // Strides default to the pool size.
            let byDefault = MaxPooling2D(poolSize: (c.kernel, c.kernel), padding: c.padding)
            try byDefault.build(inputShape: [c.input, c.input, 3], maxBatch: 1)
            #expect(byDefault.outputShape == [c.keras, c.keras, 3])
        }
    }

    /// TensorFlow's `same` split: total = max((out − 1)·s + k − n, 0), the smaller half before
    /// (kernel 2, stride 1 pads 0 before and 1 after).
    @Test(arguments: [
        // (n, k, s, before)
        [6, 2, 1, 0], [6, 3, 1, 1], [6, 4, 1, 1], [6, 5, 1, 2], [6, 3, 2, 0], [7, 3, 2, 1],
        [5, 2, 2, 0], [6, 2, 2, 0], [28, 5, 2, 1], [2, 3, 1, 1], [9, 4, 3, 0], [8, 2, 3, 0], [10, 4, 3, 1],
    ])
    func samePaddingSplit(_ c: [Int]) {
        #expect(Padding.same.padBefore(input: c[0], kernel: c[1], stride: c[2]) == c[3])
        #expect(Padding.valid.padBefore(input: c[0], kernel: c[1], stride: c[2]) == 0)
    }

    // MARK: Shapes that cannot work

    static func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as LayerShapeError { return e.message } catch { return "\(error)" }
        return nil
    }

    @Test func conv2DKernelLargerThanInputThrows() throws {
        let m = try #require(Self.message {
            try Conv2D(filters: 4, kernelSize: (3, 3), padding: .valid).build(inputShape: [2, 2, 1], maxBatch: 1)
        }, "a 3x3 valid kernel on 2x2 must throw")
        #expect(m.contains("3x3") && m.contains("(2, 2, 1)") && m.contains("valid"), "message: \(m)")

        let tall = try #require(Self.message {
            try Conv2D(filters: 1, kernelSize: (5, 2), padding: .valid).build(inputShape: [4, 9, 3], maxBatch: 1)
        })
        #expect(tall.contains("5x2") && tall.contains("(4, 9, 3)"), "message: \(tall)")
        // `same` fits any input.
        #expect(Self.message { try Conv2D(filters: 1, kernelSize: (5, 5), padding: .same).build(inputShape: [2, 2, 1], maxBatch: 1) } == nil)
    }

    @Test func maxPoolingLargerThanInputThrows() throws {
        let m = try #require(Self.message {
            try MaxPooling2D(poolSize: (3, 3)).build(inputShape: [2, 5, 1], maxBatch: 1)
        }, "a 3x3 valid pool on 2x5 must throw")
        #expect(m.contains("3x3") && m.contains("(2, 5, 1)"), "message: \(m)")
        #expect(Self.message { try MaxPooling2D(poolSize: (3, 3), padding: .same).build(inputShape: [2, 5, 1], maxBatch: 1) } == nil)
    }

    @Test func imageLayersNeedRankThree() throws {
        let conv = try #require(Self.message { try Conv2D(filters: 2, kernelSize: (2, 2)).build(inputShape: [8, 8], maxBatch: 1) })
        #expect(conv.contains("(8, 8)"), "message: \(conv)")
        let pool = try #require(Self.message { try MaxPooling2D(poolSize: (2, 2)).build(inputShape: [64], maxBatch: 1) })
        #expect(pool.contains("(64)"), "message: \(pool)")
    }

    // MARK: Sequential

    static func shapeError(_ body: () throws -> Sequential) -> ShapeError? {
        do { _ = try body() } catch let e as ShapeError { return e } catch { Issue.record("not a ShapeError: \(error)") }
        return nil
    }

    /// The second Conv2D gets a 2x2 image it cannot take: the error names layer 1, its type
    /// and Keras-style name, and the shapes.
    @Test func sequentialNamesTheFailingLayer() throws {
        let e = try #require(Self.shapeError {
            try Sequential(inputShape: [4, 4, 1],
                           layers: [Conv2D(filters: 2, kernelSize: (3, 3)), Conv2D(filters: 2, kernelSize: (3, 3)),
                                    Flatten(), Dense(units: 3, activation: .softmax)],
                           loss: CategoricalCrossentropy(), maxBatch: 2)
        })
        #expect(e.layerIndex == 1)
        let text = "\(e)"
        #expect(text.contains("layer 1") && text.contains("Conv2D") && text.contains("conv2d_1"), "\(text)")
        #expect(text.contains("3x3") && text.contains("(2, 2, 2)"), "\(text)")
    }

    @Test func sequentialPoolFailure() throws {
        let e = try #require(Self.shapeError {
            try Sequential(inputShape: [5, 5, 1],
                           layers: [Conv2D(filters: 2, kernelSize: (3, 3)), MaxPooling2D(poolSize: (2, 2)),
                                    MaxPooling2D(poolSize: (2, 2)), Flatten(), Dense(units: 3, activation: .softmax)],
                           loss: CategoricalCrossentropy(), maxBatch: 2)
        })
        #expect(e.layerIndex == 2)
        #expect("\(e)".contains("max_pooling2d_1") && "\(e)".contains("(1, 1, 2)"), "\(e)")
    }

    @Test func sequentialOutputMustBeAVector() throws {
        let e = try #require(Self.shapeError {
            try Sequential(inputShape: [6, 6, 1], layers: [Conv2D(filters: 3, kernelSize: (3, 3), activation: .softmax)],
                           loss: CategoricalCrossentropy(), maxBatch: 1)
        })
        #expect(e.layerIndex == 0)
        #expect("\(e)".contains("(4, 4, 3)"), "\(e)")
    }

    @Test func sequentialOutputActivationMustMatchTheLoss() throws {
        let e = try #require(Self.shapeError {
            try Sequential(inputShape: [8], layers: [Dense(units: 6, activation: .relu), Dense(units: 4, activation: .relu)],
                           loss: CategoricalCrossentropy(), maxBatch: 1)
        })
        #expect(e.layerIndex == 1)
        #expect("\(e)".contains("softmax") && "\(e)".contains("dense_1"), "\(e)")
        let b = try #require(Self.shapeError {
            try Sequential(inputShape: [8], layers: [Dense(units: 4, activation: .softmax)], loss: BinaryCrossentropy(), maxBatch: 1)
        })
        #expect(b.layerIndex == 0 && "\(b)".contains("sigmoid"), "\(b)")
        let logits = try #require(Self.shapeError {
            try Sequential(inputShape: [8], layers: [Dense(units: 4, activation: .softmax)], loss: CategoricalCrossentropy(),
                           maxBatch: 1, fromLogits: true)
        })
        #expect(logits.layerIndex == 0)
        #expect(Self.shapeError { try Sequential(inputShape: [8], layers: [], loss: CategoricalCrossentropy(), maxBatch: 1) } != nil)
    }

    /// A model that fits: shapes along the way, Keras names, the fused output activation.
    @Test func sequentialBuildsKerasShapes() throws {
        let model = try Sequential(
            inputShape: [28, 28, 1],
            layers: [Conv2D(filters: 8, kernelSize: (3, 3), padding: .same, activation: .relu), MaxPooling2D(poolSize: (2, 2)),
                     Conv2D(filters: 4, kernelSize: (2, 2), strides: (2, 2), activation: .relu), MaxPooling2D(poolSize: (2, 2), padding: .same),
                     Flatten(), Dropout(rate: 0.5), Dense(units: 10, activation: .softmax)],
            loss: CategoricalCrossentropy(), maxBatch: 4)
        #expect(model.layers.map(\.outputShape) == [[28, 28, 8], [14, 14, 8], [7, 7, 4], [4, 4, 4], [64], [64], [10]])
        #expect(model.layers.map(\.name) == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dropout", "dense"])
        #expect(model.outputActivation == .softmax)
        #expect(model.classes == 10)
        #expect(model.parameterCount == (9 * 8 + 8) + (4 * 8 * 4 + 4) + (64 * 10 + 10))
        let fromLogits = try Sequential(inputShape: [5], layers: [Dense(units: 3)], loss: BinaryCrossentropy(), maxBatch: 1, fromLogits: true)
        #expect(fromLogits.outputActivation == .sigmoid)
    }
}
