import Foundation
import Testing
import FashionNN
import FashionTensor

// BatchNormalization, Conv2DTranspose and LeakyReLU against Keras 3.15 on TensorFlow 2.21
// (Fixtures/keras/batch_normalization.json, conv2d_transpose.json, activations.json). The
// gradient cases use loss = Σ output · upstream_gradient. Tolerance: the fixtures' 1e-5
// relative, 1e-6 absolute, as for the other layers.

@Suite("NN layers 3 vs Keras fixtures")
struct NNLayers3KerasTests {
    static func cases(_ file: String) throws -> [[String: Any]] { try NNSupport.cases(file) }

    // MARK: BatchNormalization

    /// One training step from the initial moving statistics (mean 0, variance 1) with
    /// gamma (1.5, 0.5), beta (0.1, −0.2): output, input/gamma/beta gradients, the moving
    /// statistics after the step (biased batch variance, momentum 0.99), then inference on
    /// new input with those moving statistics.
    @Test func batchNormalization() throws {
        let all = try Self.cases("batch_normalization")
        #expect(all.count == 1, "batch_normalization.json has \(all.count) cases; update the test")
        let c = try #require(all.first)
        let input = try c.array("input")
        let layer = BatchNormalization()
        try layer.build(inputShape: input.sampleShape, maxBatch: input.batch)
        var g = SeededGenerator(seed: 1)
        layer.initialize(using: &g)
        #expect(layer.outputShape == input.sampleShape)
        #expect(layer.parameters.map(\.name) == ["gamma", "beta", "moving_mean", "moving_variance"], "Keras' weight order")
        #expect(layer.parameters.map(\.trainable) == [true, true, false, false])
        #expect(layer.parameters[2].value.array == [0, 0] && layer.parameters[3].value.array == [1, 1], "Keras' initial moving statistics")
        NNSupport.set(layer.parameters[0], try c.array("gamma").data)
        NNSupport.set(layer.parameters[1], try c.array("beta").data)

        let r = NNSupport.forwardBackward(layer, input.data, upstream: try c.array("upstream_gradient").data, batch: input.batch)
        NNSupport.expectMatches(r.output, try c.array("output").data, "BatchNormalization training output")
        NNSupport.expectMatches(r.inputGradient, try c.array("input_gradient").data, "BatchNormalization input gradient")
        NNSupport.expectMatches(r.parameterGradients[0], try c.array("gamma_gradient").data, "BatchNormalization gamma gradient")
        NNSupport.expectMatches(r.parameterGradients[1], try c.array("beta_gradient").data, "BatchNormalization beta gradient")
        NNSupport.expectMatches(layer.parameters[2].value.array, try c.array("moving_mean_after").data, "moving mean after one step")
        NNSupport.expectMatches(layer.parameters[3].value.array, try c.array("moving_variance_after").data, "moving variance after one step")

        // Keras calls the same layer on a smaller image (2x2x2): normalisation is per channel,
        // so a layer built for that shape with the same four weights is the same function.
        let inference = try c.array("inference_input")
        let same = BatchNormalization()
        try same.build(inputShape: inference.sampleShape, maxBatch: inference.batch)
        for (mine, trained) in zip(same.parameters, layer.parameters) { NNSupport.set(mine, trained.value.array) }
        let before = same.parameters.map(\.value.array)
        let y = NNSupport.forward(same, inference.data, batch: inference.batch, training: false)
        NNSupport.expectMatches(y, try c.array("inference_output").data, "BatchNormalization inference output")
        #expect(same.parameters.map(\.value.array) == before, "inference must not move the statistics")
    }

    // MARK: Conv2DTranspose

    @Test(arguments: 0..<4)
    func conv2DTranspose(_ index: Int) throws {
        let all = try Self.cases("conv2d_transpose")
        #expect(all.count == 4, "conv2d_transpose.json has \(all.count) cases; update the test's range")
        guard index < all.count else { return }
        try NNSupport.checkConvolutionCase(all[index], index: index, layout: "(kh, kw, out, in)") { f, k, s, p in
            Conv2DTranspose(filters: f, kernelSize: (k, k), strides: (s, s), padding: p)
        }
    }

    // MARK: LeakyReLU

    /// keras.layers.LeakyReLU(negative_slope=0.2), as the fixture was made.
    @Test func leakyReLU() throws {
        let named = try #require(try NNSupport.fixture("activations")["cases"] as? [String: [String: Any]], "activations.json: no named cases")
        let c = try #require(named["leaky_relu_0.2"], "no leaky_relu_0.2 case")
        let input = try c.array("input")
        #expect(input.data.contains { $0 < 0 } && input.data.contains { $0 > 0 })
        #expect(LeakyReLU().negativeSlope == 0.3)  // keras.layers.LeakyReLU() default
        for layer in [LeakyReLU(negativeSlope: 0.2)] {
            #expect(layer.negativeSlope == 0.2)
            try layer.build(inputShape: input.sampleShape, maxBatch: input.batch)
            let r = NNSupport.forwardBackward(layer, input.data, upstream: try c.array("upstream_gradient").data, batch: input.batch)
            NNSupport.expectMatches(r.output, try c.array("output").data, "leaky_relu 0.2 output")
            NNSupport.expectMatches(r.inputGradient, try c.array("input_gradient").data, "leaky_relu 0.2 input gradient")
        }
    }
}
