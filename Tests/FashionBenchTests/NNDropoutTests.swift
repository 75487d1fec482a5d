import Foundation
import Testing
import FashionNN
import FashionTensor

// Dropout semantics: inverted dropout in training, identity at inference, a mask reproducible
// from the seed and a backward pass that applies the forward pass's mask.

@Suite("NN Dropout")
struct NNDropoutTests {
    static func make(rate: Float, shape: [Int], batch: Int, seed: UInt64 = 3) throws -> Dropout {
        let layer = Dropout(rate: rate)
        try layer.build(inputShape: shape, maxBatch: batch)
        var g = SeededGenerator(seed: seed)
        layer.initialize(using: &g)
        return layer
    }

    @Test(arguments: [Float(0.1), 0.25, 0.5, 0.75])
    func inferenceIsIdentity(_ rate: Float) throws {
        let layer = try Self.make(rate: rate, shape: [3, 4], batch: 2)
        #expect(layer.outputShape == [3, 4])
        let x = NNSupport.uniform(24, seed: 1)
        #expect(NNSupport.forward(layer, x, batch: 2, training: false) == x)
    }

    /// Ones in: the output is the mask. The kept fraction is 1 − rate (within 4.5 standard
    /// deviations of the binomial over 20 000 values) and kept values are scaled by 1/(1 − rate).
    @Test(arguments: [Float(0.1), 0.25, 0.5, 0.75])
    func keepFractionAndScale(_ rate: Float) throws {
        let n = 20_000
        let layer = try Self.make(rate: rate, shape: [n / 4], batch: 4)
        let mask = NNSupport.forward(layer, [Float](repeating: 1, count: n), batch: 4, training: true)
        let scale = 1 / (1 - rate)
        let kept = mask.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == scale }, "kept values must be 1/(1 − rate) = \(scale)")
        let fraction = Double(kept.count) / Double(n)
        let p = 1 - Double(rate)
        let sd = (p * (1 - p) / Double(n)).squareRoot()
        #expect(abs(fraction - p) < 4.5 * sd, "kept fraction \(fraction), expected \(p)")
        // The expected value is preserved: mean of the mask ≈ 1.
        let mean = mask.reduce(0.0) { $0 + Double($1) } / Double(n)
        #expect(abs(mean - 1) < 4.5 * sd * Double(scale))
    }

    /// Training forward is x·mask; backward multiplies the upstream gradient by that same mask
    /// (the mask of the last forward pass), element by element.
    @Test(arguments: [Float(0.2), 0.5])
    func backwardAppliesTheForwardMask(_ rate: Float) throws {
        let batch = 3, shape = [2, 2, 5]
        let count = batch * 20
        // The mask: forward ones from a freshly seeded layer.
        let probe = try Self.make(rate: rate, shape: shape, batch: batch, seed: 9)
        let mask = NNSupport.forward(probe, [Float](repeating: 1, count: count), batch: batch)
        #expect(mask.contains(0) && mask.contains { $0 != 0 }, "a useful mask drops some values and keeps some")

        let layer = try Self.make(rate: rate, shape: shape, batch: batch, seed: 9)
        let x = NNSupport.uniform(count, seed: 2)
        let upstream = NNSupport.uniform(count, seed: 3)
        let r = NNSupport.forwardBackward(layer, x, upstream: upstream, batch: batch, training: true)
        #expect(r.output == zip(x, mask).map { $0 * $1 })
        #expect(r.inputGradient == zip(upstream, mask).map { $0 * $1 })
    }

    /// The same seed gives the same masks; successive steps draw new masks.
    @Test func masksFollowTheSeed() throws {
        let a = try Self.make(rate: 0.5, shape: [50], batch: 2, seed: 42)
        let b = try Self.make(rate: 0.5, shape: [50], batch: 2, seed: 42)
        let c = try Self.make(rate: 0.5, shape: [50], batch: 2, seed: 43)
        let ones = [Float](repeating: 1, count: 100)
        let a1 = NNSupport.forward(a, ones, batch: 2), a2 = NNSupport.forward(a, ones, batch: 2)
        let b1 = NNSupport.forward(b, ones, batch: 2), b2 = NNSupport.forward(b, ones, batch: 2)
        let c1 = NNSupport.forward(c, ones, batch: 2)
        #expect(a1 == b1 && a2 == b2)
        #expect(a1 != a2)
        #expect(a1 != c1)
    }

    /// Rate 0 passes values and gradients through unchanged, in training too.
    @Test func rateZeroIsIdentity() throws {
        let layer = try Self.make(rate: 0, shape: [6], batch: 2)
        let x = NNSupport.uniform(12, seed: 4), dy = NNSupport.uniform(12, seed: 5)
        let r = NNSupport.forwardBackward(layer, x, upstream: dy, batch: 2, training: true)
        #expect(r.output == x)
        #expect(r.inputGradient == dy)
    }
}
