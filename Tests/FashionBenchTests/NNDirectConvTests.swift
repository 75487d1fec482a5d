import Foundation
import Testing
import CKernels
import FashionNN
import FashionTensor

// Conv2D's direct kernel (32 or 64 filters, valid or same padding): forward,
// kernel, bias and input gradients against a plain loop over the definition, and finite
// differences. Shapes cover strides, non-square kernels, one to four channels and output rows
// that are not a multiple of the kernel's register block.

struct NNDirectConvCase: Sendable, CustomTestStringConvertible {
    let input: [Int]
    let filters: Int
    let kernel: (Int, Int)
    let strides: (Int, Int)
    let activation: Activation
    var padding: Padding = .valid
    var testDescription: String {
        "Conv2D(\(filters), \(kernel.0)x\(kernel.1), /\(strides.0)x\(strides.1), \(padding.rawValue), \(activation.rawValue)) on \(input)"
    }
    func make() -> Conv2D {
        Conv2D(filters: filters, kernelSize: kernel, strides: strides, padding: padding, activation: activation)
    }
    /// Output size and the padding before, as Keras: same → ceil(in / s), total padding
    /// max((out − 1)·s + k − in, 0), the smaller half before.
    func geometry() -> (oh: Int, ow: Int, top: Int, left: Int) {
        func axis(_ n: Int, _ k: Int, _ s: Int) -> (Int, Int) {
            if padding == .valid { return ((n - k) / s + 1, 0) }
            let out = (n + s - 1) / s
            return (out, max((out - 1) * s + k - n, 0) / 2)
        }
        let (oh, top) = axis(input[0], kernel.0, strides.0), (ow, left) = axis(input[1], kernel.1, strides.1)
        return (oh, ow, top, left)
    }
}

/// Both suites change the kernels' instruction-set cap, which is process-wide: they run one
/// test at a time (the README's `make test` runs every suite that way).
@Suite(.serialized) enum NNDirectKernelTests {}

extension NNDirectKernelTests {
@Suite struct Conv2DDirect {
    static let cases: [NNDirectConvCase] = [
        NNDirectConvCase(input: [9, 11, 3], filters: 32, kernel: (3, 3), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [10, 9, 3], filters: 64, kernel: (3, 3), strides: (2, 2), activation: .linear),
        NNDirectConvCase(input: [8, 13, 1], filters: 32, kernel: (2, 3), strides: (1, 2), activation: .relu),
        NNDirectConvCase(input: [9, 9, 4], filters: 64, kernel: (5, 4), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [7, 20, 2], filters: 32, kernel: (1, 1), strides: (1, 1), activation: .linear),
        NNDirectConvCase(input: [9, 10, 32], filters: 32, kernel: (3, 3), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [8, 9, 3], filters: 64, kernel: (3, 3), strides: (1, 1), activation: .linear, padding: .same),
        NNDirectConvCase(input: [9, 8, 5], filters: 32, kernel: (2, 2), strides: (1, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [9, 10, 2], filters: 32, kernel: (3, 4), strides: (2, 3), activation: .relu, padding: .same),
        NNDirectConvCase(input: [7, 7, 6], filters: 64, kernel: (4, 4), strides: (2, 2), activation: .linear, padding: .same),
        NNDirectConvCase(input: [6, 7, 16], filters: 128, kernel: (2, 2), strides: (1, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [7, 6, 3], filters: 128, kernel: (3, 3), strides: (1, 1), activation: .linear),
        // Rows of 15 and 14 outputs: two whole register blocks, then half blocks (the last overlapping).
        NNDirectConvCase(input: [4, 15, 16], filters: 128, kernel: (2, 2), strides: (1, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [3, 14, 8], filters: 64, kernel: (1, 1), strides: (1, 1), activation: .linear),
        // 2x2 kernels of stride 1, input channels a multiple of 16 and filters of 64: Winograd's
        // F(3x3, 2x2) (6x15, 5x27 and 29x11 outputs) or F(2x2, 2x2) (4x8), with tiles past the
        // edge and, below, its input gradient too.
        NNDirectConvCase(input: [7, 16, 64], filters: 64, kernel: (2, 2), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [5, 27, 32], filters: 128, kernel: (2, 2), strides: (1, 1), activation: .linear, padding: .same),
        // Its kernel gradient with no channels left over by blocks of 6 (48), and with rows of
        // tiles in two groups (a tall input).
        NNDirectConvCase(input: [5, 9, 48], filters: 64, kernel: (2, 2), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [30, 12, 16], filters: 64, kernel: (2, 2), strides: (1, 1), activation: .linear),
        // 32, 64 (or, with AVX-512, 128) input channels at stride 1: the input gradient is a direct convolution too.
        NNDirectConvCase(input: [8, 9, 64], filters: 32, kernel: (2, 2), strides: (1, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [7, 9, 32], filters: 64, kernel: (3, 2), strides: (1, 1), activation: .linear, padding: .same),
        NNDirectConvCase(input: [10, 7, 64], filters: 64, kernel: (4, 3), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [6, 7, 32], filters: 128, kernel: (2, 2), strides: (1, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [9, 8, 32], filters: 32, kernel: (3, 3), strides: (2, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [5, 6, 128], filters: 64, kernel: (2, 2), strides: (1, 1), activation: .relu, padding: .same),
        // 1 to 4 filters, vectorised along a kernel row's kw·cin values (a multiple of 32), or not (GEMM).
        NNDirectConvCase(input: [9, 10, 32], filters: 3, kernel: (3, 3), strides: (1, 1), activation: .relu, padding: .same),
        NNDirectConvCase(input: [8, 7, 16], filters: 1, kernel: (2, 2), strides: (2, 1), activation: .linear),
        NNDirectConvCase(input: [7, 9, 8], filters: 4, kernel: (3, 4), strides: (1, 1), activation: .relu),
        NNDirectConvCase(input: [6, 2, 32], filters: 2, kernel: (1, 1), strides: (1, 1), activation: .linear),
        NNDirectConvCase(input: [6, 6, 5], filters: 3, kernel: (3, 3), strides: (1, 1), activation: .relu),
    ]

    /// y[n, i, j, f] = b[f] + Σ x[n, i·sH + kh, j·sW + kw, c]·W[kh, kw, c, f], in Double.
    static func reference(_ c: NNDirectConvCase, x: [Float], w: [Float], b: [Float], batch: Int) -> [Double] {
        let (h, wi, ch) = (c.input[0], c.input[1], c.input[2]), f = c.filters
        let (oh, ow, top, left) = c.geometry()
        var y = [Double](repeating: 0, count: batch * oh * ow * f)
        for n in 0..<batch { for i in 0..<oh { for j in 0..<ow { for o in 0..<f {
            var s = Double(b[o])
            for kh in 0..<c.kernel.0 { for kw in 0..<c.kernel.1 { for cc in 0..<ch {
                let r = i * c.strides.0 + kh - top, q = j * c.strides.1 + kw - left
                guard r >= 0, r < h, q >= 0, q < wi else { continue }
                let xv = x[((n * h + r) * wi + q) * ch + cc]
                s += Double(xv) * Double(w[((kh * c.kernel.1 + kw) * ch + cc) * f + o])
            } } }
            y[((n * oh + i) * ow + j) * f + o] = c.activation == .relu ? max(s, 0) : s
        } } } }
        return y
    }

    /// Each case with the widest instruction set this CPU has, then capped at AVX2 (the
    /// AVX-512 machine runs the AVX2 code too), then at none (the GEMM path).
    @Test(arguments: cases)
    func matchesTheDefinition(_ c: NNDirectConvCase) throws {
        defer { _ = fb_kernels_cap_level(2) }
        for cap in [2, 1, 0] {
            let level = fb_kernels_cap_level(Int32(cap))
            if cap < 2 && level < cap { continue }  // this CPU lacks it: already covered above
            try check(c)
        }
    }

    func check(_ c: NNDirectConvCase) throws {
        let batch = 3
        let layer = c.make()
        try layer.build(inputShape: c.input, maxBatch: batch)
        let ch = c.input[2]
        #expect(layer.usesDirectKernel == (fb_conv_direct_supported(Int32(c.filters), Int32(c.kernel.1), Int32(ch)) != 0))
        #expect(layer.usesDirectInputGradient == (layer.usesDirectKernel && c.strides == (1, 1)
                                                  && fb_conv_direct_supported(Int32(ch), Int32(c.kernel.1), Int32(c.filters)) != 0))
        let twoByTwo = c.kernel == (2, 2) && c.strides == (1, 1)
        #expect(layer.usesWinograd.forward == (layer.usesDirectKernel && twoByTwo && fb_winograd2_supported(Int32(ch), Int32(c.filters)) != 0))
        #expect(layer.usesWinograd.inputGradient
                == (layer.usesDirectInputGradient && twoByTwo && fb_winograd2_supported(Int32(c.filters), Int32(ch)) != 0))
        #expect(layer.usesWinograd.weightGradient == (layer.usesDirectKernel && twoByTwo && fb_winograd2_supported(Int32(ch), Int32(c.filters)) != 0))
        let w = NNSupport.uniform(layer.parameters[0].count, seed: 11, in: -0.5...0.5)
        let b = NNSupport.uniform(c.filters, seed: 12, in: -0.3...0.3)
        NNSupport.set(layer.parameters[0], w)
        NNSupport.set(layer.parameters[1], b)
        let x = NNSupport.uniform(batch * c.input.reduce(1, *), seed: 13)
        let expected = Self.reference(c, x: x, w: w, b: b, batch: batch)
        let upstream = NNSupport.uniform(expected.count, seed: 14)
        let r = NNSupport.forwardBackward(layer, x, upstream: upstream, batch: batch)
        NNSupport.expectMatches(r.output, expected.map { Float($0) }, rtol: 1e-5, atol: 1e-5, "output of \(c)")

        // Gradients by the definition: g = upstream where the output is active.
        let g = zip(upstream, expected).map { c.activation == .relu && $0.1 <= 0 ? 0 : Double($0.0) }
        let (h, wi, f) = (c.input[0], c.input[1], c.filters)
        let (oh, ow, top, left) = c.geometry()
        var dw = [Double](repeating: 0, count: w.count), db = [Double](repeating: 0, count: f)
        var dx = [Double](repeating: 0, count: x.count)
        for n in 0..<batch { for i in 0..<oh { for j in 0..<ow { for o in 0..<f {
            let gv = g[((n * oh + i) * ow + j) * f + o]
            db[o] += gv
            for kh in 0..<c.kernel.0 { for kw in 0..<c.kernel.1 { for cc in 0..<ch {
                let r = i * c.strides.0 + kh - top, q = j * c.strides.1 + kw - left
                guard r >= 0, r < h, q >= 0, q < wi else { continue }
                let xi = ((n * h + r) * wi + q) * ch + cc
                let wk = ((kh * c.kernel.1 + kw) * ch + cc) * f + o
                dw[wk] += Double(x[xi]) * gv
                dx[xi] += Double(w[wk]) * gv
            } } }
        } } } }
        NNSupport.expectMatches(r.parameterGradients[0], dw.map { Float($0) }, rtol: 1e-4, atol: 1e-4, "dKernel of \(c)")
        NNSupport.expectMatches(r.parameterGradients[1], db.map { Float($0) }, rtol: 1e-4, atol: 1e-4, "dBias of \(c)")
        NNSupport.expectMatches(r.inputGradient, dx.map { Float($0) }, rtol: 1e-4, atol: 1e-4, "dInput of \(c)")
    }

    @Test func finiteDifferences() throws {
        let layer = Conv2D(filters: 32, kernelSize: (3, 3), strides: (1, 2), padding: .same, activation: .linear)
        try layer.build(inputShape: [5, 7, 3], maxBatch: 2)
        var g = SeededGenerator(seed: 3, stream: "direct-conv")
        layer.initialize(using: &g)
        NNSupport.checkLayerGradients(layer, input: NNSupport.uniform(2 * 5 * 7 * 3, seed: 21), batch: 2)
    }

    @Test func finiteDifferencesWithDirectInputGradient() throws {
        let layer = Conv2D(filters: 32, kernelSize: (2, 3), padding: .same, activation: .linear)
        try layer.build(inputShape: [4, 5, 32], maxBatch: 2)
        #expect(layer.usesDirectInputGradient == (fb_conv_direct_supported(32, 3, 32) != 0))
        var g = SeededGenerator(seed: 4, stream: "direct-conv-dx")
        layer.initialize(using: &g)
        NNSupport.checkLayerGradients(layer, input: NNSupport.uniform(2 * 4 * 5 * 32, seed: 22), batch: 2)
    }

    /// model_4's shapes take Winograd (F(3x3, 2x2) at 27x27) wherever the direct kernels run: forward,
    /// input gradient and kernel gradient; checked by finite differences on a small case.
    @Test func winogradTwoByTwo() throws {
        let supported = fb_winograd2_supported(64, 128) != 0
        for (channels, filters, forward, inputGradient) in [(16, 64, true, false), (64, 128, true, true), (128, 128, true, true)] {
            let layer = Conv2D(filters: filters, kernelSize: (2, 2), padding: .same, activation: .relu)
            try layer.build(inputShape: [27, 27, channels], maxBatch: 2)
            #expect(layer.usesWinograd == (supported && forward, supported && inputGradient, supported), "\(channels) -> \(filters)")
        }
        let layer = Conv2D(filters: 64, kernelSize: (2, 2), padding: .same, activation: .linear)
        try layer.build(inputShape: [3, 5, 64], maxBatch: 2)
        #expect(layer.usesWinograd == (supported, supported, supported))
        var g = SeededGenerator(seed: 5, stream: "winograd2")
        layer.initialize(using: &g)
        NNSupport.checkLayerGradients(layer, input: NNSupport.uniform(2 * 3 * 5 * 64, seed: 23), batch: 2)
    }

    @Test func otherShapesKeepTheGemmPath() throws {
        for filters in [16, 33, 256] {
            let layer = Conv2D(filters: filters, kernelSize: (3, 3))
            try layer.build(inputShape: [6, 6, 3], maxBatch: 2)
            #expect(!layer.usesDirectKernel)
        }
        let wide = Conv2D(filters: 32, kernelSize: (9, 9), padding: .same)  // 9·9·64 = 5184 values per patch
        try wide.build(inputShape: [9, 9, 64], maxBatch: 1)
        #expect(!wide.usesDirectKernel, "patches over Kernels.directMaxPatch values take the GEMM path")
        let sigmoid = Conv2D(filters: 32, kernelSize: (3, 3), activation: .sigmoid)
        try sigmoid.build(inputShape: [6, 6, 3], maxBatch: 2)
        #expect(!sigmoid.usesDirectKernel, "the kernel fuses ReLU only")
    }
}
}

extension NNDirectKernelTests {
/// Conv2DTranspose's direct path (stride 1, same, odd kernel, 32 or 64 filters) against its
/// own GEMM-and-scatter path, which the scatter reference and Keras' fixtures check: the same
/// weights and data, the kernels capped off for the twin.
@Suite struct Conv2DTransposeDirect {
    struct Case: Sendable, CustomTestStringConvertible {
        let input: [Int], filters: Int, kernel: (Int, Int), activation: Activation
        var testDescription: String { "Conv2DTranspose(\(filters), \(kernel.0)x\(kernel.1), \(activation.rawValue)) on \(input)" }
        func make() -> Conv2DTranspose {
            Conv2DTranspose(filters: filters, kernelSize: kernel, padding: .same, activation: activation)
        }
    }

    static let cases: [Case] = [
        Case(input: [7, 9, 64], filters: 64, kernel: (3, 3), activation: .linear),   // direct dx too
        Case(input: [6, 5, 32], filters: 32, kernel: (5, 3), activation: .relu),
        Case(input: [5, 8, 3], filters: 64, kernel: (3, 1), activation: .linear),    // dx by GEMM (3 channels)
        Case(input: [8, 6, 64], filters: 32, kernel: (1, 1), activation: .relu),
        Case(input: [5, 6, 128], filters: 128, kernel: (3, 3), activation: .linear),
        Case(input: [6, 7, 32], filters: 3, kernel: (3, 3), activation: .linear),      // few filters; dx direct (32)
        Case(input: [4, 5, 32], filters: 1, kernel: (5, 5), activation: .relu),
        // Winograd's F(2x2, 3x3): odd sizes (tiles past the edge), forward and dx; dx only (64 → 32).
        Case(input: [9, 11, 64], filters: 64, kernel: (3, 3), activation: .relu),
        Case(input: [6, 8, 64], filters: 32, kernel: (3, 3), activation: .relu),
    ]

    @Test(arguments: cases)
    func matchesTheGemmPath(_ c: Case) throws {
        defer { _ = fb_kernels_cap_level(2) }
        let batch = 3
        let direct = c.make(), gemm = c.make()
        _ = fb_kernels_cap_level(2)
        try direct.build(inputShape: c.input, maxBatch: batch)
        _ = fb_kernels_cap_level(0)
        try gemm.build(inputShape: c.input, maxBatch: batch)
        _ = fb_kernels_cap_level(2)
        #expect(direct.usesDirectKernel == (fb_conv_direct_supported(Int32(c.filters), Int32(c.kernel.1), Int32(c.input[2])) != 0))
        #expect(!gemm.usesDirectKernel)
        let (inChannels, threeByThree) = (c.input[2], c.kernel == (3, 3))
        #expect(direct.usesWinograd.forward
                == (direct.usesDirectKernel && threeByThree && fb_winograd2_supported(Int32(inChannels), Int32(c.filters)) != 0))
        #expect(direct.usesWinograd.inputGradient == (direct.usesDirectKernel && threeByThree && inChannels >= 32
                                                      && fb_winograd2_supported(Int32(c.filters), Int32(inChannels)) != 0))
        for layer in [direct, gemm] {
            NNSupport.set(layer.parameters[0], NNSupport.uniform(layer.parameters[0].count, seed: 31, in: -0.4...0.4))
            NNSupport.set(layer.parameters[1], NNSupport.uniform(c.filters, seed: 32, in: -0.2...0.2))
        }
        let x = NNSupport.uniform(batch * c.input.reduce(1, *), seed: 33)
        let upstream = NNSupport.uniform(batch * direct.outputShape.reduce(1, *), seed: 34)
        let a = NNSupport.forwardBackward(direct, x, upstream: upstream, batch: batch)
        let b = NNSupport.forwardBackward(gemm, x, upstream: upstream, batch: batch)
        NNSupport.expectMatches(a.output, b.output, rtol: 1e-5, atol: 1e-5, "output of \(c)")
        NNSupport.expectMatches(a.inputGradient, b.inputGradient, rtol: 1e-4, atol: 1e-4, "dInput of \(c)")
        NNSupport.expectMatches(a.parameterGradients[0], b.parameterGradients[0], rtol: 1e-4, atol: 1e-4, "dKernel of \(c)")
        NNSupport.expectMatches(a.parameterGradients[1], b.parameterGradients[1], rtol: 1e-4, atol: 1e-4, "dBias of \(c)")
    }

    @Test func finiteDifferences() throws {
        let layer = Conv2DTranspose(filters: 32, kernelSize: (3, 3), padding: .same)
        try layer.build(inputShape: [4, 5, 32], maxBatch: 2)
        #expect(layer.usesDirectKernel == (fb_conv_direct_supported(32, 3, 32) != 0))
        var g = SeededGenerator(seed: 4, stream: "direct-transposed")
        layer.initialize(using: &g)
        NNSupport.checkLayerGradients(layer, input: NNSupport.uniform(2 * 4 * 5 * 32, seed: 41), batch: 2)
        let winograd = Conv2DTranspose(filters: 64, kernelSize: (3, 3), padding: .same, activation: .linear)
        try winograd.build(inputShape: [2, 3, 64], maxBatch: 1)  // 36,928 weights, each moved twice: a small image
        #expect(winograd.usesWinograd == (fb_winograd2_supported(64, 64) != 0, fb_winograd2_supported(64, 64) != 0))
        winograd.initialize(using: &g)
        NNSupport.checkLayerGradients(winograd, input: NNSupport.uniform(2 * 3 * 64, seed: 42), batch: 1)
    }

    @Test func otherShapesKeepTheScatterPath() throws {
        for layer in [Conv2DTranspose(filters: 32, kernelSize: (3, 3), strides: (2, 2), padding: .same),
                      Conv2DTranspose(filters: 32, kernelSize: (2, 2), padding: .same),
                      Conv2DTranspose(filters: 32, kernelSize: (3, 3), padding: .valid),
                      Conv2DTranspose(filters: 3, kernelSize: (3, 3), padding: .same)] {
            try layer.build(inputShape: [5, 5, 8], maxBatch: 2)
            #expect(!layer.usesDirectKernel)
        }
    }
}
}

extension NNDirectKernelTests {
/// MaxPooling2D's C kernels (AVX-512, AVX2, SSE) against a plain loop over the definition:
/// the first maximum in window order, its gradient routed there, and with `masksReLU` only
/// where the maximum is positive. Channel counts that leave a tail past the last vector.
@Suite struct MaxPoolingKernels {
    @Test(arguments: [(2, 2, 2, 2, Padding.valid), (3, 3, 3, 3, .valid), (3, 3, 2, 2, .valid), (2, 3, 2, 1, .same)],
          [1, 19, 32])
    func matchesTheDefinition(pool: (Int, Int, Int, Int, Padding), channels: Int) throws {
        defer { _ = fb_kernels_cap_level(2) }
        let (pH, pW, sH, sW, padding) = pool
        let (h, w, batch) = (9, 8, 2)
        for cap in [2, 1, 0] {
            let level = fb_kernels_cap_level(Int32(cap))
            if cap < 2 && level < cap { continue }
            for masks in [false, true] {
                let layer = MaxPooling2D(poolSize: (pH, pW), strides: (sH, sW), padding: padding)
                try layer.build(inputShape: [h, w, channels], maxBatch: batch)
                layer.masksReLU = masks
                // Repeated values (ties) and values at or below zero, as ReLU outputs have.
                let x = NNSupport.uniform(batch * h * w * channels, seed: 41).map { (($0 * 8).rounded() - 3) / 4 }
                let (oh, ow) = (layer.outputShape[0], layer.outputShape[1])
                let upstream = NNSupport.uniform(batch * oh * ow * channels, seed: 42)
                let r = NNSupport.forwardBackward(layer, x, upstream: upstream, batch: batch)
                let top = padding == .same ? max((oh - 1) * sH + pH - h, 0) / 2 : 0
                let left = padding == .same ? max((ow - 1) * sW + pW - w, 0) / 2 : 0
                var y = [Float](repeating: 0, count: upstream.count), dx = [Float](repeating: 0, count: x.count)
                for n in 0..<batch { for i in 0..<oh { for j in 0..<ow { for c in 0..<channels {
                    var best = -Float.infinity, at = -1
                    for a in 0..<pH { for b in 0..<pW {
                        let r = i * sH + a - top, q = j * sW + b - left
                        guard r >= 0, r < h, q >= 0, q < w else { continue }
                        let k = ((n * h + r) * w + q) * channels + c
                        if at < 0 || x[k] > best { best = x[k]; at = k }
                    } }
                    let o = ((n * oh + i) * ow + j) * channels + c
                    y[o] = best
                    if !masks || best > 0 { dx[at] += upstream[o] }
                } } } }
                #expect(r.output == y, "output, cap \(cap), \(pool), \(channels) channels")
                #expect(r.inputGradient == dx, "dInput, cap \(cap), masks \(masks), \(pool), \(channels) channels")
            }
        }
    }
}
}
