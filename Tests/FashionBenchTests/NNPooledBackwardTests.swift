import Testing
import CKernels
@testable import FashionNN
import FashionTensor

/// A convolution's backward taken straight from the max pooling's gradient
/// (`Conv2D.takeBackward(of:)`, `fb_conv_pooled_backward`) against the dense backward of the
/// two layers, on a training step of a small model whose first pair needs no input gradient
/// (or, behind a 1x1 convolution, does) and whose second does. Short and long patch rows
/// (those of a multiple of 16 values inside the image are summed in registers, the others
/// value by value), valid and same (clipped) convolutions, strides, tiling, overlapping and
/// padded pools, windows of more places than the register sums sort by, relu and linear.
/// Direct layers under tiles also pool in their forward (`MaxPooling2D.poolsInConvolution`):
/// the loss must be the same, or for Winograd's forward the same up to rounding.
@Suite("NN pooled convolution backward")
struct NNPooledBackwardTests {
    struct Pair: Sendable {
        let filters: Int, kernel: (Int, Int), strides: (Int, Int), padding: Padding, activation: Activation
        let pool: (Int, Int), poolStrides: (Int, Int), poolPadding: Padding
    }
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String, input: [Int], first: Pair, second: Pair
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "the 60x60 CNN's shapes, small", input: [20, 20, 3],
             first: Pair(filters: 32, kernel: (3, 3), strides: (1, 1), padding: .valid, activation: .relu,
                         pool: (3, 3), poolStrides: (3, 3), poolPadding: .valid),
             second: Pair(filters: 32, kernel: (3, 3), strides: (1, 1), padding: .valid, activation: .relu,
                          pool: (2, 2), poolStrides: (2, 2), poolPadding: .valid)),
        Case(name: "same convolutions (clipped patches), padded pools, linear", input: [11, 10, 4],
             first: Pair(filters: 5, kernel: (3, 3), strides: (1, 1), padding: .same, activation: .linear,
                         pool: (2, 2), poolStrides: (2, 2), poolPadding: .same),
             second: Pair(filters: 32, kernel: (3, 2), strides: (1, 1), padding: .same, activation: .relu,
                          pool: (2, 3), poolStrides: (2, 3), poolPadding: .same)),
        Case(name: "strided convolutions, overlapping pools", input: [17, 15, 2],
             first: Pair(filters: 16, kernel: (2, 3), strides: (2, 1), padding: .valid, activation: .relu,
                         pool: (3, 3), poolStrides: (2, 2), poolPadding: .valid),
             second: Pair(filters: 7, kernel: (2, 2), strides: (1, 2), padding: .same, activation: .linear,
                          pool: (2, 2), poolStrides: (1, 1), poolPadding: .valid)),
        Case(name: "a same first layer of 64 filters rebuilding dy's rows, uncovered edges, linear", input: [13, 12, 3],
             first: Pair(filters: 64, kernel: (3, 3), strides: (1, 1), padding: .same, activation: .linear,
                         pool: (2, 2), poolStrides: (2, 2), poolPadding: .valid),
             second: Pair(filters: 32, kernel: (2, 2), strides: (1, 1), padding: .valid, activation: .relu,
                          pool: (2, 2), poolStrides: (2, 2), poolPadding: .valid)),
        Case(name: "rows of more vectors than a register block, clipped and inside patches, a padded overlapping pool",
             input: [10, 9, 16],
             first: Pair(filters: 48, kernel: (2, 3), strides: (1, 1), padding: .same, activation: .relu,
                         pool: (3, 3), poolStrides: (2, 2), poolPadding: .same),
             second: Pair(filters: 6, kernel: (3, 3), strides: (1, 1), padding: .same, activation: .relu,
                          pool: (2, 2), poolStrides: (2, 2), poolPadding: .valid)),
        Case(name: "windows of more than 16 places, value by value", input: [16, 16, 16],
             first: Pair(filters: 8, kernel: (3, 2), strides: (1, 1), padding: .valid, activation: .relu,
                         pool: (5, 5), poolStrides: (3, 3), poolPadding: .valid),
             second: Pair(filters: 4, kernel: (2, 2), strides: (1, 1), padding: .valid, activation: .relu,
                          pool: (2, 2), poolStrides: (2, 2), poolPadding: .valid)),
    ]

    /// With `leading`, a 1x1 convolution first, so that both pairs need an input gradient.
    static func model(_ c: Case, pooled: Bool, leading: Bool = false) throws -> Sequential {
        func layers(_ p: Pair) -> [Layer] {
            [Conv2D(filters: p.filters, kernelSize: p.kernel, strides: p.strides, padding: p.padding, activation: p.activation),
             MaxPooling2D(poolSize: p.pool, strides: p.poolStrides, padding: p.poolPadding)]
        }
        let lead: [Layer] = leading ? [Conv2D(filters: c.input[2], kernelSize: (1, 1))] : []
        let model = try Sequential(inputShape: c.input,
                                   layers: lead + layers(c.first) + layers(c.second) + [Flatten(), Dense(units: 4, activation: .softmax)],
                                   loss: CategoricalCrossentropy(), maxBatch: 3)
        for i in leading ? [1, 3] : [0, 2] {
            let conv = model.layers[i] as! Conv2D, pool = model.layers[i + 1] as! MaxPooling2D
            try conv.takeBackward(of: pooled ? pool : nil)
            if !pooled { pool.masksReLU = false; conv.gradientArrivesMasked = false }
        }
        model.initialize(seed: 9)
        return model
    }

    /// One training step's loss and gradients.
    static func step(_ model: Sequential, _ c: Case) -> (Double, [[Float]]) {
        // Inputs centred on zero, so that ReLU cuts many windows' maxima.
        let input = FloatBuffer(NNSupport.uniform(3 * c.input.reduce(1, *), seed: 12))
        let labels: [Int32] = [0, 3, 1]
        let r = labels.withUnsafeBufferPointer { model.trainStep(input.pointer, labels: $0.baseAddress!, batch: 3) }
        return (r.lossSum, model.parameters.map(\.gradient.array))
    }

    /// Two computations of one step that add in different orders: the loss within 1e-6 relative,
    /// every gradient within rtol 1e-5 / atol 1e-7.
    static func expectEqualToRounding(_ a: (loss: Double, gradients: [[Float]]), _ b: (loss: Double, gradients: [[Float]]),
                                      _ what: String) {
        #expect(abs(a.loss - b.loss) <= 1e-6 * abs(b.loss), "\(what): loss \(a.loss) against \(b.loss)")
        #expect(a.gradients.count == b.gradients.count, "\(what): as many gradients")
        for (i, (g, g0)) in zip(a.gradients, b.gradients).enumerated() {
            NNSupport.expectMatches(g, g0, rtol: 1e-5, atol: 1e-7, "\(what): parameter \(i)")
        }
    }

    @Test(arguments: cases, [false, true])
    func matchesTheDenseBackward(_ c: Case, leading: Bool) throws {
        let pooled = try Self.model(c, pooled: true, leading: leading), dense = try Self.model(c, pooled: false, leading: leading)
        let at = leading ? 1 : 0
        #expect((pooled.layers[at] as! Conv2D).pooling != nil && (dense.layers[at] as! Conv2D).pooling == nil)
        let (lossP, gradientsP) = Self.step(pooled, c), (lossD, gradientsD) = Self.step(dense, c)
        if Self.winogradLayers(pooled).contains(true) {
            Self.expectEqualToRounding((lossP, gradientsP), (lossD, gradientsD), "\(c.name), Winograd forward against GEMM")
        } else {
            #expect(lossP == lossD, "the forward pass is the same")
            Self.expectEqualToRounding((lossP, gradientsP), (lossD, gradientsD), c.name)
        }
        #expect(gradientsP[2 * at].contains { $0 != 0 } && gradientsP[2 * at + 2].contains { $0 != 0 })
    }

    /// Every instruction set with direct kernels (AVX-512, AVX2) runs the same multiply-adds in
    /// the same order: the same bits. (Both pairs need an input gradient here, so both take
    /// `fb_conv_pooled_backward`; a first layer that rebuilds dy's rows runs the direct
    /// kernels, tested on their own.) Without AVX2 there are no direct kernels, so no Winograd
    /// forward either: the baseline convolves by OpenBLAS's GEMM, whose order of additions is
    /// its own and differs between hosts' kernels (on an AVX-512 Xeon it gave the direct
    /// kernels' bits for these shapes, on an AVX2 EPYC not), so it is compared to rounding.
    @Test(arguments: cases)
    func sameBitsAtEveryInstructionSet(_ c: Case) throws {
        defer { _ = fb_kernels_cap_level(2) }
        var results: [(level: Int32, winograd: [Bool], loss: Double, gradients: [[Float]])] = []
        for cap in [2, 1, 0] as [Int32] {
            let level = fb_kernels_cap_level(cap)
            if level < cap { continue }
            let model = try Self.model(c, pooled: true, leading: true)
            let (loss, gradients) = Self.step(model, c)
            results.append((level, Self.winogradLayers(model), loss, gradients))
        }
        for r in results.dropFirst() where r.winograd == results[0].winograd {
            if r.level > 0 {
                #expect(r.loss == results[0].loss && r.gradients == results[0].gradients, "\(c.name): level \(r.level) against level \(results[0].level)")
            } else {
                Self.expectEqualToRounding((r.loss, r.gradients), (results[0].loss, results[0].gradients),
                                           "\(c.name), GEMM baseline against level \(results[0].level)")
            }
        }
        let withDirectKernels = results.filter { $0.level >= 1 }
        #expect(withDirectKernels.allSatisfy { $0.winograd == withDirectKernels[0].winograd },
                "AVX2 and AVX-512 both run Winograd where it pays")
    }

    /// For each layer, whether it is a convolution whose forward runs Winograd's F(2x2, 3x3).
    static func winogradLayers(_ model: Sequential) -> [Bool] {
        model.layers.indices.map { i in
            guard i + 1 < model.layers.count, let conv = model.layers[i] as? Conv2D,
                  let pool = model.layers[i + 1] as? MaxPooling2D else { return false }
            return conv.pooling === pool && pool.poolsInConvolution && conv.winogradPays(for: pool)
        }
    }

    /// The model hands a pooling's backward to the convolution where that pays: windows of
    /// 4 or more values over patch rows of 32 or more (the 60x60 CNN's second layer), or a
    /// direct first layer under tiles (its first); a 3x3x3 layer that is not first keeps the
    /// dense backward with ReLU's mask in the pooling, as does a window of 2 values.
    @Test func theModelChoosesWhereItPays() throws {
        func conv(_ f: Int, _ k: Int) -> Conv2D { Conv2D(filters: f, kernelSize: (k, k), activation: .relu) }
        let model = try Sequential(inputShape: [60, 60, 3],
                                   layers: [conv(32, 3), MaxPooling2D(poolSize: (3, 3)), conv(32, 3), MaxPooling2D(poolSize: (3, 3)),
                                            conv(32, 3), MaxPooling2D(poolSize: (1, 2)), Flatten(), Dense(units: 6, activation: .softmax)],
                                   loss: CategoricalCrossentropy(), maxBatch: 2)
        let first = model.layers[0] as! Conv2D, second = model.layers[2] as! Conv2D, third = model.layers[4] as! Conv2D
        #expect(first.pooling === model.layers[1] && second.pooling === model.layers[3])
        #expect((model.layers[3] as! MaxPooling2D).leavesBackwardToConvolution)
        #expect((model.layers[1] as! MaxPooling2D).poolsInConvolution && (model.layers[3] as! MaxPooling2D).poolsInConvolution,
                "direct layers under tiles pool in their forward")
        #expect(third.pooling == nil && third.gradientArrivesMasked, "a window of 2 values: the dense backward")

        let later = try Sequential(inputShape: [20, 20, 3],
                                   layers: [Conv2D(filters: 3, kernelSize: (1, 1)), conv(32, 3), MaxPooling2D(poolSize: (3, 3)),
                                            Flatten(), Dense(units: 6, activation: .softmax)],
                                   loss: CategoricalCrossentropy(), maxBatch: 2)
        let short = later.layers[1] as! Conv2D
        #expect(short.pooling == nil && short.gradientArrivesMasked && (later.layers[2] as! MaxPooling2D).masksReLU,
                "3x3x3 patches with an input gradient: the dense backward")
    }
}
