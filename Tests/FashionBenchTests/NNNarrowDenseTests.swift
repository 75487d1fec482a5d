import Testing
import Foundation
import CKernels
@testable import FashionNN
import FashionTensor

/// Dense layers of 16 units over a long input, or 16 inputs to many units, take C kernels
/// instead of BLAS: checked against the definition (in Double) at each instruction set, with
/// lengths and batches that leave tails past every block, and by finite differences.
@Suite(.serialized) struct NNNarrowDenseTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var inDim: Int, units: Int, batch: Int, activation: Activation, shape: Dense.Shape
        var testDescription: String { "Dense \(inDim)→\(units) \(activation.rawValue), batch \(batch)" }
    }

    static let cases = [
        Case(inDim: 1100, units: 16, batch: 11, activation: .linear, shape: .narrow),
        Case(inDim: 4096 + 300, units: 16, batch: 3, activation: .relu, shape: .narrow),
        Case(inDim: 16, units: 1030, batch: 5, activation: .linear, shape: .wide),
        Case(inDim: 16, units: 9000 + 77, batch: 9, activation: .sigmoid, shape: .wide),
        Case(inDim: 1100, units: 17, batch: 3, activation: .linear, shape: .general),
    ]

    @Test(arguments: cases)
    func matchesTheDefinition(_ c: Case) throws {
        defer { InstructionSet.cap(at: .avx512) }
        for level in [InstructionSet.avx512, .avx2, .sse] {
            if InstructionSet.cap(at: level) != level { continue }
            let layer = Dense(units: c.units, activation: c.activation)
            try layer.build(inputShape: [c.inDim], maxBatch: c.batch)
            #expect(layer.shape == c.shape)
            let w = NNSupport.uniform(c.inDim * c.units, seed: 1, in: -0.1...0.1)
            let b = NNSupport.uniform(c.units, seed: 2, in: -0.2...0.2)
            NNSupport.set(layer.parameters[0], w)
            NNSupport.set(layer.parameters[1], b)
            let x = NNSupport.uniform(c.batch * c.inDim, seed: 3)
            let upstream = NNSupport.uniform(c.batch * c.units, seed: 4)
            let r = NNSupport.forwardBackward(layer, x, upstream: upstream, batch: c.batch)

            var y = [Double](repeating: 0, count: c.batch * c.units)
            for m in 0..<c.batch { for j in 0..<c.units {
                var s = Double(b[j])
                for k in 0..<c.inDim { s += Double(x[m * c.inDim + k]) * Double(w[k * c.units + j]) }
                y[m * c.units + j] = c.activation == .relu ? max(s, 0) : c.activation == .sigmoid ? 1 / (1 + Foundation.exp(-s)) : s
            } }
            let g = (0..<y.count).map { i in
                Double(upstream[i]) * (c.activation == .relu ? (y[i] > 0 ? 1 : 0) : c.activation == .sigmoid ? y[i] * (1 - y[i]) : 1)
            }
            var dw = [Double](repeating: 0, count: w.count), dx = [Double](repeating: 0, count: x.count)
            var db = [Double](repeating: 0, count: c.units)
            for m in 0..<c.batch { for j in 0..<c.units {
                let gv = g[m * c.units + j]
                db[j] += gv
                for k in 0..<c.inDim {
                    dw[k * c.units + j] += Double(x[m * c.inDim + k]) * gv
                    dx[m * c.inDim + k] += Double(w[k * c.units + j]) * gv
                }
            } }
            let at = "\(c) at \(level.name)"
            NNSupport.expectMatches(r.output, y.map { Float($0) }, rtol: 1e-4, atol: 1e-5, "output of \(at)")
            NNSupport.expectMatches(r.parameterGradients[0], dw.map { Float($0) }, rtol: 1e-4, atol: 1e-5, "dKernel of \(at)")
            NNSupport.expectMatches(r.parameterGradients[1], db.map { Float($0) }, rtol: 1e-4, atol: 1e-5, "dBias of \(at)")
            NNSupport.expectMatches(r.inputGradient, dx.map { Float($0) }, rtol: 1e-4, atol: 1e-5, "dInput of \(at)")
        }
    }

    @Test(arguments: [(1030, 16), (16, 1030)])
    func finiteDifferences(inDim: Int, units: Int) throws {
        let layer = Dense(units: units, activation: .linear)
        try layer.build(inputShape: [inDim], maxBatch: 2)
        #expect(layer.shape != .general)
        var g = SeededGenerator(seed: 8, stream: "narrow-dense")
        layer.initialize(using: &g)
        NNSupport.checkLayerGradients(layer, input: NNSupport.uniform(2 * inDim, seed: 81), batch: 2)
    }
}
