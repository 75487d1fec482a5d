import Foundation
import Testing
import FashionNN
import FashionTensor

// Shared helpers for the FashionNN tests (files named NN*.swift): deterministic inputs,
// finite-difference gradient checks through the public `Layer` API, tolerant comparisons and
// the Keras fixture reader.

enum NNSupport {
    // MARK: - Deterministic data

    /// `count` values uniform in `range`, from a fixed seed.
    static func uniform(_ count: Int, seed: UInt64, in range: ClosedRange<Float> = -1...1) -> [Float] {
        var g = SeededGenerator(seed: seed, stream: "nn-tests")
        return (0..<count).map { _ in range.lowerBound + (range.upperBound - range.lowerBound) * g.nextUnitFloat() }
    }

    /// Uniform values whose magnitude is at least `margin` (for ReLU: keep away from the kink).
    static func awayFromZero(_ count: Int, seed: UInt64, margin: Float = 0.1, max: Float = 1) -> [Float] {
        var g = SeededGenerator(seed: seed, stream: "nn-tests-away")
        return (0..<count).map { _ in
            let m = margin + (max - margin) * g.nextUnitFloat()
            return g.nextUnitFloat() < 0.5 ? -m : m
        }
    }

    /// A random permutation of evenly spaced values `spacing` apart, centred on 0: no ties and
    /// every pair at least `spacing` apart (for max pooling's finite differences).
    static func distinct(_ count: Int, seed: UInt64, spacing: Float = 0.05) -> [Float] {
        var g = SeededGenerator(seed: seed, stream: "nn-tests-distinct")
        var values = (0..<count).map { Float($0) * spacing - Float(count) * spacing / 2 }
        g.shuffle(&values)
        return values
    }

    static func set(_ p: Parameter, _ values: [Float], gradient: Bool = false) {
        precondition(values.count == p.count, "\(p.name): \(values.count) values for \(p.count)")
        let target = gradient ? p.gradient.pointer : p.value.pointer
        for (i, v) in values.enumerated() { target[i] = v }
    }

    // MARK: - Running a layer

    /// Forward pass on a copy of `input`; returns the output values.
    static func forward(_ layer: Layer, _ input: [Float], batch: Int, training: Bool = true) -> [Float] {
        let x = FloatBuffer(input)
        let y = layer.forward(x.pointer, batch: batch, training: training)
        let n = batch * layer.outputShape.reduce(1, *)
        return Array(UnsafeBufferPointer(start: y, count: n))
    }

    /// Forward, then backward of `upstream` (a copy: backward may overwrite it). Returns the
    /// output, dLoss/dInput and each parameter's gradient.
    static func forwardBackward(_ layer: Layer, _ input: [Float], upstream: [Float], batch: Int, training: Bool = true)
        -> (output: [Float], inputGradient: [Float], parameterGradients: [[Float]]) {
        let x = FloatBuffer(input)
        let y = layer.forward(x.pointer, batch: batch, training: training)
        let n = batch * layer.outputShape.reduce(1, *)
        let output = Array(UnsafeBufferPointer(start: y, count: n))
        precondition(upstream.count == n, "upstream gradient has \(upstream.count) values, output \(n)")
        let dy = FloatBuffer(upstream)
        let dx = layer.backward(dy.pointer, batch: batch, needsInputGradient: true)
        let inputCount = batch * layer.inputShape.reduce(1, *)
        let inputGradient = dx.map { Array(UnsafeBufferPointer(start: $0, count: inputCount)) } ?? []
        return (output, inputGradient, layer.parameters.map(\.gradient.array))
    }

    // MARK: - Finite differences

    /// Checks a layer's input and parameter gradients against central differences of
    /// loss = Σ output·R (R fixed random), accumulated in Double from float forward passes.
    /// `prepare` runs before every forward pass (Dropout uses it to fix its mask).
    static func checkLayerGradients(_ layer: Layer, input: [Float], batch: Int, eps: Float = 1e-2,
                                    tolerance: Double = 1e-2, seed: UInt64 = 99,
                                    prepare: () -> Void = {},
                                    sourceLocation: SourceLocation = #_sourceLocation) {
        let outCount = batch * layer.outputShape.reduce(1, *)
        let r = uniform(outCount, seed: seed)
        let x = FloatBuffer(input)
        func loss() -> Double {
            prepare()
            let y = layer.forward(x.pointer, batch: batch, training: true)
            var s = 0.0
            for i in 0..<outCount { s += Double(y[i]) * Double(r[i]) }
            return s
        }
        prepare()
        let analytic = forwardBackward(layer, input, upstream: r, batch: batch)
        #expect(analytic.inputGradient.count == input.count, "no input gradient", sourceLocation: sourceLocation)

        func numeric(_ p: UnsafeMutablePointer<Float>, _ count: Int) -> [Double] {
            (0..<count).map { i in
                let saved = p[i]
                p[i] = saved + eps
                let plus = loss()
                p[i] = saved - eps
                let minus = loss()
                p[i] = saved
                // The actual float step, not eps: saved ± eps rounds.
                let step = Double(saved + eps) - Double(saved - eps)
                return (plus - minus) / step
            }
        }
        expectClose(analytic.inputGradient.map(Double.init), numeric(x.pointer, input.count),
                    tolerance: tolerance, "dLoss/dInput of \(layer.typeName)", sourceLocation: sourceLocation)
        for (k, p) in layer.parameters.enumerated() where p.trainable {
            expectClose(analytic.parameterGradients[k].map(Double.init), numeric(p.value.pointer, p.count),
                        tolerance: tolerance, "dLoss/d\(p.name) of \(layer.typeName)", sourceLocation: sourceLocation)
        }
    }

    /// Largest error |a − n| / max(|a|, |n|, floor), with floor = 1e-2 of the largest numeric
    /// value: entries that are tiny against that scale are compared absolutely (to 1e-4 of the
    /// largest gradient), since a float32 forward pass cannot resolve them by differences.
    static func maxRelativeError(_ analytic: [Double], _ numeric: [Double]) -> (error: Double, index: Int) {
        let scale = numeric.map(abs).max() ?? 0
        let floor = Swift.max(1e-2 * scale, 1e-7)
        var worst = (error: 0.0, index: -1)
        for i in analytic.indices {
            let e = abs(analytic[i] - numeric[i]) / Swift.max(abs(analytic[i]), abs(numeric[i]), floor)
            if e > worst.error { worst = (e, i) }
        }
        return worst
    }

    static func expectClose(_ analytic: [Double], _ numeric: [Double], tolerance: Double, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        guard analytic.count == numeric.count else {
            Issue.record("\(what): \(analytic.count) analytic values vs \(numeric.count) numeric", sourceLocation: sourceLocation)
            return
        }
        let worst = maxRelativeError(analytic, numeric)
        #expect(worst.error < tolerance,
                "\(what): max relative error \(worst.error) at \(worst.index): analytic \(analytic[max(worst.index, 0)]) vs numeric \(numeric[max(worst.index, 0)])",
                sourceLocation: sourceLocation)
        // A check that compares two arrays of zeros proves nothing.
        #expect(numeric.contains { $0 != 0 } || analytic.allSatisfy { $0 == 0 },
                "\(what): all numeric gradients are zero", sourceLocation: sourceLocation)
    }

    /// Element-wise |a − e| ≤ rtol·|e| + atol (the Keras fixtures' tolerance).
    static func expectMatches(_ actual: [Float], _ expected: [Float], rtol: Double = 1e-5, atol: Double = 1e-6,
                              _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard actual.count == expected.count else {
            Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
            return
        }
        var worst = (excess: 0.0, index: -1)
        for i in actual.indices {
            let a = Double(actual[i]), e = Double(expected[i])
            let excess = abs(a - e) / (rtol * abs(e) + atol)
            if excess > worst.excess { worst = (excess, i) }
        }
        #expect(worst.excess <= 1,
                "\(what): at \(worst.index) got \(worst.index >= 0 ? actual[worst.index] : 0), expected \(worst.index >= 0 ? expected[worst.index] : 0) (\(worst.excess)× the tolerance)",
                sourceLocation: sourceLocation)
    }

    // MARK: - Keras fixtures

    /// The JSON object of Fixtures/keras/<name>.json (copied from the Keras reference set).
    static func fixture(_ name: String) throws -> [String: Any] {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "no Fixtures resource")
        let url = base.appendingPathComponent("keras").appendingPathComponent(name + ".json")
        let data = try Data(contentsOf: url)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name).json is not an object")
    }
}

/// One `{"shape", "data"}` array of a fixture.
struct KerasArray {
    let shape: [Int]
    let data: [Float]

    init(_ object: Any?, _ what: String = "array") throws {
        let o = try #require(object as? [String: Any], "\(what) is not a {shape, data} object")
        shape = try #require(o["shape"] as? [Int], "\(what).shape")
        let values = try #require(o["data"] as? [Any], "\(what).data")
        data = try values.map { Float(try #require(($0 as? NSNumber)?.doubleValue, "\(what).data holds a non-number")) }
        #expect(data.count == shape.reduce(1, *), "\(what): \(data.count) values for shape \(shape)")
    }

    /// The shape without its leading batch axis.
    var sampleShape: [Int] { Array(shape.dropFirst()) }
    var batch: Int { shape.first ?? 1 }
}

extension Dictionary where Key == String, Value == Any {
    func array(_ key: String) throws -> KerasArray { try KerasArray(self[key], key) }
    func object(_ key: String) throws -> [String: Any] { try #require(self[key] as? [String: Any], "\(key) is not an object") }
    func int(_ key: String) throws -> Int { try #require(self[key] as? Int, "\(key) is not an integer") }
    func double(_ key: String) throws -> Double { try #require((self[key] as? NSNumber)?.doubleValue, "\(key) is not a number") }
    func string(_ key: String) throws -> String { try #require(self[key] as? String, "\(key) is not a string") }
}

extension NNSupport {
    /// The case list of a Keras fixture file.
    static func cases(_ file: String) throws -> [[String: Any]] {
        try #require(try fixture(file)["cases"] as? [[String: Any]], "\(file).json: no case list")
    }

    /// One Conv2D-like fixture case (conv2d.json, conv2d_transpose.json): builds the layer
    /// `make(filters, kernel, strides, padding)` makes, loads Keras' kernel and bias, and checks
    /// the output and all three gradients. `layout` names the kernel layout for the message.
    static func checkConvolutionCase(_ c: [String: Any], index: Int, layout: String,
                                     make: (Int, Int, Int, Padding) -> Layer) throws {
        let note = (c["note"] as? String) ?? "case \(index)"
        let input = try c.array("input"), kernel = try c.array("kernel"), bias = try c.array("bias")
        let k = try c.int("kernel_size"), s = try c.int("strides"), filters = try c.int("filters")
        let padding = try #require(Padding(rawValue: try c.string("padding")))
        let layer = make(filters, k, s, padding)
        try layer.build(inputShape: input.sampleShape, maxBatch: input.batch)
        let expectedOutput = try c.array("output")
        #expect(layer.outputShape == expectedOutput.sampleShape, "\(note): output shape")
        #expect(layer.parameters.map(\.shape) == [kernel.shape, bias.shape], "\(note): kernel layout \(layout)")
        set(layer.parameters[0], kernel.data)
        set(layer.parameters[1], bias.data)

        let r = forwardBackward(layer, input.data, upstream: try c.array("upstream_gradient").data, batch: input.batch)
        expectMatches(r.output, expectedOutput.data, "\(note): output")
        expectMatches(r.inputGradient, try c.array("input_gradient").data, "\(note): input gradient")
        expectMatches(r.parameterGradients[0], try c.array("kernel_gradient").data, "\(note): kernel gradient")
        expectMatches(r.parameterGradients[1], try c.array("bias_gradient").data, "\(note): bias gradient")
    }
}
