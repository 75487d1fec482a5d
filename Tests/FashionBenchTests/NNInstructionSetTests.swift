import Testing
import CKernels
@testable import FashionNN
import FashionTensor

/// The instruction-set cap (`bench --max-isa`) and the loops compiled once per instruction set:
/// every level must give the same bits as the baseline (SSE2) build of the same loop.
@Suite(.serialized) struct NNInstructionSetTests {
    @Test func namesParseAndTheCapHolds() {
        defer { InstructionSet.cap(at: .avx512) }
        #expect(InstructionSet(name: "AVX2") == .avx2)
        #expect(InstructionSet(name: "avx512") == .avx512)
        #expect(InstructionSet(name: "neon") == nil)
        let best = InstructionSet.cap(at: .avx512)
        #expect(InstructionSet.current == best)
        #expect(InstructionSet.cap(at: .sse) == .sse)
        #expect(InstructionSet.current == .sse)
        let avx2 = InstructionSet.cap(at: .avx2)
        #expect(avx2.rawValue <= InstructionSet.avx2.rawValue && avx2.rawValue <= best.rawValue)
        #expect(InstructionSet.cap(at: .avx512) == best)
    }

    static func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    /// Forward and backward of a freshly built layer at each level, as bit patterns.
    static func runAtEachLevel(_ make: () -> Layer, input shape: [Int], batch: Int) throws -> [[[UInt32]]] {
        defer { InstructionSet.cap(at: .avx512) }
        var results: [[[UInt32]]] = []
        for level in [InstructionSet.sse, .avx2, .avx512] {
            if InstructionSet.cap(at: level) != level { continue }  // this CPU lacks it
            let layer = make()
            try layer.build(inputShape: shape, maxBatch: batch)
            var g = SeededGenerator(seed: 9, stream: "isa")
            layer.initialize(using: &g)
            for p in layer.parameters where p.trainable {
                NNSupport.set(p, NNSupport.uniform(p.count, seed: 5, in: 0.5...1.5))
            }
            let x = NNSupport.uniform(batch * shape.reduce(1, *), seed: 6, in: -2...3)
            let upstream = NNSupport.uniform(batch * layer.outputShape.reduce(1, *), seed: 7)
            let r = NNSupport.forwardBackward(layer, x, upstream: upstream, batch: batch)
            results.append([bits(r.output), bits(r.inputGradient)] + r.parameterGradients.map(bits))
        }
        return results
    }

    // 64 channels fill whole vectors; 19 leave a tail past the last vector.
    @Test(arguments: [64, 19])
    func batchNormalizationIsTheSameAtEveryLevel(channels: Int) throws {
        let runs = try Self.runAtEachLevel({ BatchNormalization() }, input: [5, 7, channels], batch: 3)
        #expect(runs.count >= 1)
        for run in runs.dropFirst() { #expect(run == runs[0]) }
    }

    @Test func leakyReLUIsTheSameAtEveryLevel() throws {
        let runs = try Self.runAtEachLevel({ LeakyReLU(negativeSlope: 0.3) }, input: [9, 11, 3], batch: 2)
        for run in runs.dropFirst() { #expect(run == runs[0]) }
    }

    @Test func reluBackwardWithBiasIsTheSameAtEveryLevel() throws {
        let runs = try Self.runAtEachLevel({ Dense(units: 37, activation: .relu) }, input: [23], batch: 5)
        for run in runs.dropFirst() { #expect(run == runs[0]) }
    }
}
