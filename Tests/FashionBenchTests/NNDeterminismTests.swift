import Foundation
import Testing
import FashionNN
import FashionTensor

// Seeds: the same seed gives the same initial weights, the same dropout masks and the same
// training steps; Glorot-uniform initialization stays within its limit and is centred.

@Suite("NN determinism and initialization")
struct NNDeterminismTests {
    static func makeModel() throws -> Sequential {
        try Sequential(inputShape: [8, 8, 1],
                       layers: [Conv2D(filters: 4, kernelSize: (3, 3), activation: .relu), MaxPooling2D(poolSize: (2, 2)),
                                Flatten(), Dropout(rate: 0.3), Dense(units: 16, activation: .elu),
                                Dense(units: 5, activation: .softmax)],
                       loss: CategoricalCrossentropy(), maxBatch: 4)
    }

    /// Buffers start as zeros whether they come from the heap or, from 1 MB on, as fresh
    /// mapped pages; and they hold what is written, to the last element.
    @Test func buffersStartAsZerosAtEverySize() {
        for count in [0, 1, 17, (1 << 18) - 1, 1 << 18, 3_000_001] {
            let b = FloatBuffer(count: count)
            #expect(b.buffer.allSatisfy { $0 == 0 })
            #expect(Int(bitPattern: UnsafeRawPointer(b.pointer)) % 64 == 0)
            for i in stride(from: 0, to: count, by: 4093) { b.pointer[i] = Float(i) }
            if count > 0 { b.pointer[count - 1] = -1 }
            #expect(count == 0 || b.pointer[count - 1] == -1)
            #expect(stride(from: 0, to: max(count - 1, 0), by: 4093).allSatisfy { b.pointer[$0] == Float($0) })
        }
    }

    @Test func sameSeedSameWeights() throws {
        let a = try Self.makeModel(), b = try Self.makeModel()
        a.initialize(seed: 1234)
        b.initialize(seed: 1234)
        #expect(a.snapshot() == b.snapshot())
        let c = try Self.makeModel()
        c.initialize(seed: 1235)
        // Every kernel differs under another seed; biases start at zero either way.
        for (k, (wa, wc)) in zip(a.snapshot(), c.snapshot()).enumerated() {
            if a.parameters[k].name == "kernel" { #expect(wa != wc) } else { #expect(wa.allSatisfy { $0 == 0 } && wc.allSatisfy { $0 == 0 }) }
        }
        // Re-initializing restores the seed's weights.
        a.initialize(seed: 99)
        a.initialize(seed: 1234)
        #expect(a.snapshot() == b.snapshot())
    }

    /// Layers draw from their own streams: two layers of the same shape get different weights.
    @Test func layersHaveTheirOwnStreams() throws {
        let model = try Sequential(inputShape: [6], layers: [Dense(units: 6), Dense(units: 6), Dense(units: 3, activation: .softmax)],
                                   loss: CategoricalCrossentropy(), maxBatch: 1)
        model.initialize(seed: 7)
        #expect(model.layers[0].parameters[0].value.array != model.layers[1].parameters[0].value.array)
    }

    /// Two models from one seed stay identical through training steps with dropout: same
    /// losses, bitwise-same gradients and weights.
    @Test func sameSeedSameTraining() throws {
        let batch = 4
        let a = try Self.makeModel(), b = try Self.makeModel()
        a.initialize(seed: 42)
        b.initialize(seed: 42)
        let oa = Adam(learningRate: 0.01), ob = Adam(learningRate: 0.01)
        oa.attach(a.parameters)
        ob.attach(b.parameters)
        let labels: [Int32] = [0, 3, 1, 4]
        for step in 0..<3 {
            let input = NNSupport.uniform(batch * 64, seed: UInt64(100 + step))
            let xa = FloatBuffer(input), xb = FloatBuffer(input)
            let ra = labels.withUnsafeBufferPointer { a.trainStep(xa.pointer, labels: $0.baseAddress!, batch: batch) }
            let rb = labels.withUnsafeBufferPointer { b.trainStep(xb.pointer, labels: $0.baseAddress!, batch: batch) }
            #expect(ra.lossSum == rb.lossSum && ra.correct == rb.correct, "step \(step)")
            #expect(a.parameters.map(\.gradient.array) == b.parameters.map(\.gradient.array), "step \(step)")
            #expect(a.parameters.contains { $0.gradient.array.contains { $0 != 0 } })
            oa.step()
            ob.step()
            #expect(a.snapshot() == b.snapshot(), "step \(step)")
        }
    }

    /// Dropout makes training steps differ from evaluation; evaluation is deterministic.
    @Test func evaluationIgnoresDropout() throws {
        let model = try Self.makeModel()
        model.initialize(seed: 5)
        let x = FloatBuffer(NNSupport.uniform(4 * 64, seed: 8))
        let labels: [Int32] = [1, 1, 2, 0]
        let e1 = labels.withUnsafeBufferPointer { model.evaluate(x.pointer, labels: $0.baseAddress!, batch: 4) }
        let t = labels.withUnsafeBufferPointer { model.trainStep(x.pointer, labels: $0.baseAddress!, batch: 4) }
        let e2 = labels.withUnsafeBufferPointer { model.evaluate(x.pointer, labels: $0.baseAddress!, batch: 4) }
        #expect(e1.lossSum == e2.lossSum)
        #expect(t.lossSum != e1.lossSum)
    }

    // MARK: Glorot uniform

    /// All |w| ≤ √(6 / (fan_in + fan_out)), the sample mean near 0 (within 5 standard errors),
    /// the variance near limit²/3, the largest |w| near the limit, and zero biases.
    static func checkGlorot(_ w: [Float], limit: Double, what: String) {
        let n = Double(w.count)
        #expect(w.allSatisfy { Double(abs($0)) <= limit }, "\(what): a weight exceeds the Glorot limit \(limit)")
        let mean = w.reduce(0.0) { $0 + Double($1) } / n
        let variance = w.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        let expectedVariance = limit * limit / 3
        #expect(abs(mean) < 5 * (expectedVariance / n).squareRoot(), "\(what): mean \(mean)")
        // The sample variance of U(−l, l) has relative standard error √(0.8 / n).
        #expect(abs(variance / expectedVariance - 1) < 5 * (0.8 / n).squareRoot(), "\(what): variance \(variance) vs \(expectedVariance)")
        #expect(Double(w.map(abs).max()!) > limit * (1 - 20 / n), "\(what): the weights do not reach the limit")
        #expect(Set(w).count > w.count * 9 / 10, "\(what): too many repeated values")
    }

    @Test(arguments: [[784, 128], [300, 10], [12, 5], [64, 64]])
    func denseGlorot(_ dims: [Int]) throws {
        let layer = Dense(units: dims[1])
        try layer.build(inputShape: [dims[0]], maxBatch: 1)
        var g = SeededGenerator(seed: 31)
        layer.initialize(using: &g)
        Self.checkGlorot(layer.parameters[0].value.array, limit: (6.0 / Double(dims[0] + dims[1])).squareRoot(), what: "Dense \(dims)")
        #expect(layer.parameters[1].value.array.allSatisfy { $0 == 0 })
    }

    /// Conv2D: fan_in = kh·kw·in, fan_out = kh·kw·filters (Keras).
    @Test(arguments: [[3, 3, 1, 32], [3, 3, 32, 64], [2, 2, 16, 8], [5, 3, 4, 6]])
    func conv2DGlorot(_ k: [Int]) throws {
        let layer = Conv2D(filters: k[3], kernelSize: (k[0], k[1]), padding: .same)
        try layer.build(inputShape: [8, 8, k[2]], maxBatch: 1)
        var g = SeededGenerator(seed: 32)
        layer.initialize(using: &g)
        let area = k[0] * k[1]
        Self.checkGlorot(layer.parameters[0].value.array, limit: (6.0 / Double(area * k[2] + area * k[3])).squareRoot(),
                         what: "Conv2D \(k)")
        #expect(layer.parameters[1].value.array.allSatisfy { $0 == 0 })
    }

    /// A layer initialized twice from equal generators gets equal weights.
    @Test func layerInitializationFollowsTheGenerator() throws {
        let a = Conv2D(filters: 4, kernelSize: (3, 3)), b = Conv2D(filters: 4, kernelSize: (3, 3))
        try a.build(inputShape: [5, 5, 2], maxBatch: 1)
        try b.build(inputShape: [5, 5, 2], maxBatch: 1)
        var ga = SeededGenerator(seed: 77, stream: "x"), gb = SeededGenerator(seed: 77, stream: "x")
        a.initialize(using: &ga)
        b.initialize(using: &gb)
        #expect(a.parameters[0].value.array == b.parameters[0].value.array)
        var gc = SeededGenerator(seed: 77, stream: "y")
        b.initialize(using: &gc)
        #expect(a.parameters[0].value.array != b.parameters[0].value.array)
    }
}

/// A ReLU convolution followed by max pooling hands ReLU's mask to the pooling's backward
/// (`MaxPooling2D.masksReLU`): the gradients must be bit for bit those of the two separate
/// passes, for tiling pools (the C kernel) and overlapping or padded ones, for direct and
/// GEMM convolutions.
@Suite("NN ReLU mask in max pooling")
struct NNReLUMaskTests {
    static func pool(_ index: Int) -> (String, MaxPooling2D) {
        switch index {
        case 0: ("2x2 tiles", MaxPooling2D(poolSize: (2, 2)))
        case 1: ("3x3 tiles, uncovered edge", MaxPooling2D(poolSize: (3, 3)))
        case 2: ("3x3 stride 2", MaxPooling2D(poolSize: (3, 3), strides: (2, 2)))
        default: ("2x2 same", MaxPooling2D(poolSize: (2, 2), padding: .same))
        }
    }

    @Test(arguments: [32, 5], [0, 1, 2, 3])
    func sameGradientsAsSeparatePasses(filters: Int, poolIndex: Int) throws {
        func make() throws -> Sequential {
            let fresh = Self.pool(poolIndex).1
            return try Sequential(inputShape: [11, 10, 3],
                                  layers: [Conv2D(filters: 3, kernelSize: (1, 1)),
                                           Conv2D(filters: filters, kernelSize: (3, 3), activation: .relu), fresh,
                                           Conv2D(filters: 32, kernelSize: (2, 2), padding: .same, activation: .relu),
                                           Flatten(), Dense(units: 4, activation: .softmax)],
                                  loss: CategoricalCrossentropy(), maxBatch: 3)
        }
        let fused = try make(), separate = try make()
        let pool = try #require(fused.layers[2] as? MaxPooling2D), conv = try #require(fused.layers[1] as? Conv2D)
        #expect(pool.masksReLU && conv.gradientArrivesMasked, "the model hands the mask to the pooling")
        (separate.layers[2] as? MaxPooling2D)?.masksReLU = false
        (separate.layers[1] as? Conv2D)?.gradientArrivesMasked = false
        fused.initialize(seed: 5)
        separate.initialize(seed: 5)
        // Inputs centred on zero, so that many windows' maxima are cut by ReLU.
        let input = NNSupport.uniform(3 * 11 * 10 * 3, seed: 31).map { $0 - 0.5 }
        let labels: [Int32] = [0, 3, 1]
        let a = FloatBuffer(input), b = FloatBuffer(input)
        let ra = labels.withUnsafeBufferPointer { fused.trainStep(a.pointer, labels: $0.baseAddress!, batch: 3) }
        let rb = labels.withUnsafeBufferPointer { separate.trainStep(b.pointer, labels: $0.baseAddress!, batch: 3) }
        #expect(ra.lossSum == rb.lossSum)
        for (p, q) in zip(fused.parameters, separate.parameters) {
            #expect(p.gradient.array == q.gradient.array, "\(p.name) of \(Self.pool(poolIndex).0), \(filters) filters")
        }
        #expect(fused.parameters[2].gradient.array.contains { $0 != 0 })
    }

    /// A 1x1 pool passes dy through, so it never takes the mask.
    @Test func identityPoolKeepsTheMaskInTheConvolution() throws {
        let model = try Sequential(inputShape: [5, 5, 1],
                                   layers: [Conv2D(filters: 4, kernelSize: (2, 2), activation: .relu), MaxPooling2D(poolSize: (1, 1)),
                                            Flatten(), Dense(units: 3, activation: .softmax)],
                                   loss: CategoricalCrossentropy(), maxBatch: 2)
        #expect(!(model.layers[1] as! MaxPooling2D).masksReLU)
        #expect(!(model.layers[0] as! Conv2D).gradientArrivesMasked)
    }
}

/// A LeakyReLU followed by batch normalization: the normalization applies it as it reads its
/// input and its backward to dx, and the LeakyReLU passes through. Training steps and
/// inference must give bit for bit what the two separate layers give.
@Suite("NN LeakyReLU absorbed by batch normalization")
struct NNLeakyReLUAbsorbedTests {
    @Test(arguments: [Float(0.3), 0])
    func sameNumbersAsSeparateLayers(slope: Float) throws {
        func make() throws -> Sequential {
            try Sequential(inputShape: [7, 6, 2],
                           layers: [Conv2D(filters: 19, kernelSize: (3, 3), padding: .same), LeakyReLU(negativeSlope: slope),
                                    BatchNormalization(), Flatten(), Dense(units: 4, activation: .softmax)],
                           loss: CategoricalCrossentropy(), maxBatch: 3)
        }
        let fused = try make(), separate = try make()
        let leaky = try #require(fused.layers[1] as? LeakyReLU), norm = try #require(fused.layers[2] as? BatchNormalization)
        #expect(leaky.passesThrough && norm.absorbedLeakySlope == slope, "the model hands the LeakyReLU to the normalization")
        (separate.layers[1] as? LeakyReLU)?.passesThrough = false
        (separate.layers[2] as? BatchNormalization)?.absorbedLeakySlope = 1
        fused.initialize(seed: 6)
        separate.initialize(seed: 6)
        let input = NNSupport.uniform(3 * 7 * 6 * 2, seed: 32)
        let labels: [Int32] = [2, 0, 3]
        for step in 0..<2 {
            let a = FloatBuffer(input), b = FloatBuffer(input)
            let ra = labels.withUnsafeBufferPointer { fused.trainStep(a.pointer, labels: $0.baseAddress!, batch: 3) }
            let rb = labels.withUnsafeBufferPointer { separate.trainStep(b.pointer, labels: $0.baseAddress!, batch: 3) }
            #expect(ra.lossSum == rb.lossSum, "loss at step \(step)")
            for (p, q) in zip(fused.parameters, separate.parameters) {
                #expect(p.gradient.array == q.gradient.array, "gradient of \(p.name) at step \(step)")
                #expect(p.value.array == q.value.array, "\(p.name) (moving statistics) at step \(step)")
            }
        }
        #expect(fused.parameters[0].gradient.array.contains { $0 != 0 })
        let a = FloatBuffer(input), b = FloatBuffer(input)
        var pa = [Float](repeating: 0, count: 12), pb = pa
        pa.withUnsafeMutableBufferPointer { fused.predict(a.pointer, batch: 3, into: $0.baseAddress!) }
        pb.withUnsafeMutableBufferPointer { separate.predict(b.pointer, batch: 3, into: $0.baseAddress!) }
        #expect(pa == pb, "inference")
    }

    /// Not followed by batch normalization: the LeakyReLU writes its own output.
    @Test func onlyBeforeBatchNormalization() throws {
        let model = try Sequential(inputShape: [5, 5, 1],
                                   layers: [Conv2D(filters: 4, kernelSize: (2, 2)), LeakyReLU(), Flatten(), Dense(units: 3, activation: .softmax)],
                                   loss: CategoricalCrossentropy(), maxBatch: 2)
        #expect(!(model.layers[1] as! LeakyReLU).passesThrough)
    }
}

/// Data-parallel training: the replicas' gradients, weighted by shard size and added (in C,
/// one pass), equal the gradients of one model on the whole batch (up to float rounding), for
/// shards of unequal size and for three replicas.
@Suite("NN data-parallel gradient reduction")
struct NNDataParallelTests {
    static func layers() -> [Layer] {
        [Conv2D(filters: 32, kernelSize: (3, 3), activation: .relu), MaxPooling2D(poolSize: (2, 2)),
         Flatten(), Dense(units: 7, activation: .relu), Dense(units: 4, activation: .softmax)]
    }

    @Test(arguments: [2, 3])
    func replicasAddUpToTheWholeBatch(workers: Int) throws {
        let batch = 7
        let single = try Sequential(inputShape: [8, 7, 2], layers: Self.layers(), loss: CategoricalCrossentropy(), maxBatch: batch)
        let parallel = try Sequential(inputShape: [8, 7, 2], layers: Self.layers(), loss: CategoricalCrossentropy(), maxBatch: batch)
        try parallel.makeDataParallel(workers: workers) { Self.layers() }
        single.initialize(seed: 8)
        parallel.initialize(seed: 8)
        let input = NNSupport.uniform(batch * 8 * 7 * 2, seed: 51).map { $0 - 0.3 }
        let labels: [Int32] = [0, 1, 2, 3, 1, 0, 2]
        let a = FloatBuffer(input), b = FloatBuffer(input)
        let ra = labels.withUnsafeBufferPointer { single.trainStep(a.pointer, labels: $0.baseAddress!, batch: batch) }
        let rb = labels.withUnsafeBufferPointer { parallel.trainStep(b.pointer, labels: $0.baseAddress!, batch: batch) }
        #expect(abs(ra.lossSum - rb.lossSum) < 1e-5 * abs(ra.lossSum))
        for (p, q) in zip(single.parameters, parallel.parameters) {
            NNSupport.expectMatches(q.gradient.array, p.gradient.array, rtol: 1e-4, atol: 1e-6, "\(p.name), \(workers) replicas")
        }
    }

    /// Kernels of 4M weights and more (`Dense.runsJointly`) run once over the whole batch
    /// between the replicas' parts: below other layers, as the first layer that learns (no
    /// input gradient) and as the output layer. The sum is the whole batch's, and two models
    /// give the same bits.
    @Test(arguments: [0, 1, 2])
    func jointLayersAddUpToTheWholeBatch(placement: Int) throws {
        let batch = 7, shape = [8, 8, 2]
        func layers() -> [Layer] {
            switch placement {
            case 0: [Conv2D(filters: 64, kernelSize: (3, 3), padding: .same, activation: .relu), Flatten(),
                     Dense(units: 1024, activation: .relu), Dense(units: 4, activation: .softmax)]
            case 1: [Flatten(), Dense(units: 32_768, activation: .relu), Dense(units: 4, activation: .softmax)]
            default: [Conv2D(filters: 64, kernelSize: (3, 3), padding: .same, activation: .relu), Flatten(),
                      Dense(units: 1024, activation: .softmax)]
            }
        }
        let joint = [2, 1, 2][placement]
        // The joint products split the kernel over the process's threads: two here, whatever
        // the suites before set.
        let threads = Parallel.workers
        Parallel.workers = 2
        defer { Parallel.workers = threads }
        let single = try Sequential(inputShape: shape, layers: layers(), loss: CategoricalCrossentropy(), maxBatch: batch)
        let parallel = try Sequential(inputShape: shape, layers: layers(), loss: CategoricalCrossentropy(), maxBatch: batch)
        let again = try Sequential(inputShape: shape, layers: layers(), loss: CategoricalCrossentropy(), maxBatch: batch)
        try parallel.makeDataParallel(workers: 2) { layers() }
        try again.makeDataParallel(workers: 2) { layers() }
        #expect(parallel.jointLayers == [joint])
        // The replica keeps no kernel gradient of its own for the joint layer (its bias gradient,
        // added across replicas as usual, stays its own).
        let (mine, theirs) = (parallel.layers[joint].parameters, parallel.replicas[0].layers[joint].parameters)
        #expect(theirs[0].gradient === mine[0].gradient && theirs[1].gradient !== mine[1].gradient)
        for m in [single, parallel, again] { m.initialize(seed: 9) }
        let input = NNSupport.uniform(batch * 128, seed: 52).map { $0 - 0.3 }
        let labels: [Int32] = [0, 1, 2, 3, 1, 0, 2]
        for step in 0..<2 {
            let a = FloatBuffer(input), b = FloatBuffer(input), c = FloatBuffer(input)
            let ra = labels.withUnsafeBufferPointer { single.trainStep(a.pointer, labels: $0.baseAddress!, batch: batch) }
            let rb = labels.withUnsafeBufferPointer { parallel.trainStep(b.pointer, labels: $0.baseAddress!, batch: batch) }
            let rc = labels.withUnsafeBufferPointer { again.trainStep(c.pointer, labels: $0.baseAddress!, batch: batch) }
            #expect(abs(ra.lossSum - rb.lossSum) < 1e-5 * abs(ra.lossSum) && ra.correct == rb.correct)
            #expect(rb.lossSum == rc.lossSum)
            for (p, (q, o)) in zip(single.parameters, zip(parallel.parameters, again.parameters)) {
                NNSupport.expectMatches(q.gradient.array, p.gradient.array, rtol: 1e-4, atol: 1e-6, "\(p.name), step \(step)")
                #expect(q.gradient.array == o.gradient.array, "\(p.name): same bits, step \(step)")
                #expect(q.gradient.array.contains { $0 != 0 })
            }
            // The next step starts from weights changed the same way in all three.
            for m in [single, parallel, again] {
                for p in m.parameters { for i in 0..<p.count { p.value.pointer[i] -= 0.05 * p.gradient.pointer[i] } }
            }
        }
    }
}

