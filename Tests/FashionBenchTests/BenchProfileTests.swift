import Foundation
import Testing
import FashionExperiments
import FashionNN
import FashionTensor

/// `bench --profile`: each layer's GEMM calls are seen and timed on their own.
@Suite(.serialized) struct BenchProfileTests {
    @Test func recorderSeesADenseLayersThreeGemms() throws {
        let dense = Dense(units: 3)
        try dense.build(inputShape: [5], maxBatch: 4)
        var g = SeededGenerator(seed: 1, stream: "test")
        dense.initialize(using: &g)
        let x = FloatBuffer(count: 4 * 5), dy = FloatBuffer(count: 4 * 3)
        var calls: [BLAS.GemmCall] = []
        BLAS.gemmRecorder = { calls.append($0) }
        defer { BLAS.gemmRecorder = nil }
        _ = dense.forward(x.pointer, batch: 4, training: true)
        _ = dense.backward(dy.pointer, batch: 4, needsInputGradient: true)
        BLAS.gemmRecorder = nil
        let expected: [BLAS.GemmCall] = [
            BLAS.GemmCall(transA: false, transB: false, m: 4, n: 3, k: 5, accumulates: false),  // y = x·W
            BLAS.GemmCall(transA: true, transB: false, m: 5, n: 3, k: 4, accumulates: false),   // dW = xᵀ·dy
            BLAS.GemmCall(transA: false, transB: true, m: 4, n: 5, k: 3, accumulates: false),   // dx = dy·Wᵀ
        ]
        #expect(calls == expected)
        let flops: Double = calls.map(\.flops).reduce(0, +)
        #expect(flops == 360)
    }

    @Test func profileGivesEachGemmLayerItsAloneTime() throws {
        let e = try Experiment.parse(yaml: """
            name: profile_tiny
            model:
              input_shape: [12, 12, 2]
              layers:
                - {type: Conv2D, filters: 8, kernel_size: 3, activation: relu}
                - {type: MaxPooling2D, pool_size: 2}
                - type: Flatten
                - {type: Dense, units: 10, activation: softmax}
            training: {batch_size: 16, threads: 1}
            """, file: "Experiments/profile_tiny.yaml")
        let text = try Benchmark.profile(e, steps: 2, warmup: 1)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("GEMM-alone ms") == true)
        // Conv2D (3x3x2 patches: BLAS, not the small-patch loop) and Dense call BLAS; pooling and Flatten do not.
        let gemmColumns = { (prefix: String) in lines.first { $0.hasPrefix(prefix) }.map { $0.split(separator: " ").count } }
        #expect(gemmColumns("conv2d (Conv2D)") == gemmColumns("dense (Dense)"))
        #expect(gemmColumns("conv2d (Conv2D)")! == gemmColumns("max_pooling2d (MaxPooling2D)")! + 2)
        let summary = try #require(lines.first { $0.hasPrefix("GEMMs alone") })
        #expect(summary.contains("1 BLAS thread)"))
        #expect(BLAS.gemmRecorder == nil, "profiling leaves no recorder behind")
    }
}
