import Foundation
import FashionTensor
import FashionNN

/// `fashionbench bench`: steady-state training throughput on synthetic input of the model's
/// shape at the experiment's batch size (forward, loss, backward and optimizer update, as
/// Keras' `fit` step), timed after warm-up.
public struct BenchmarkResult: Sendable {
    public var experiment: String
    public var batchSize: Int
    public var steps: Int
    public var seconds: Double
    public var samplesPerSecond: Double
    public var gflopsPerSecond: Double
    public var trainingFlopsPerSample: Int
    public var params: Int
    public var threads: Int
    public var dataParallelWorkers: Int
    /// The hand-written kernels' instruction set (`--max-isa` may cap it).
    public var instructionSet: String

    public var json: [String: Any] {
        ["experiment": experiment, "batch_size": batchSize, "steps": steps, "seconds": seconds,
         "samples_per_second": samplesPerSecond, "gflops_per_second": gflopsPerSecond,
         "training_flops_per_sample": trainingFlopsPerSample, "params": params, "threads": threads,
         "parallelism": dataParallelWorkers > 1 ? "data" : "blas", "instruction_set": instructionSet]
    }
}

/// Uniform random pixels and labels of the model's shape, seeded: the same every time.
final class SyntheticBatch {
    let input: FloatBuffer
    let labels: UnsafeMutablePointer<Int32>

    init(model: Sequential, batch: Int) {
        input = FloatBuffer(count: batch * model.inputShape.reduce(1, *))
        labels = .allocate(capacity: batch)
        var g = SeededGenerator(seed: 0, stream: "bench")
        for i in 0..<input.count { input.pointer[i] = g.nextUnitFloat() }
        for i in 0..<batch { labels[i] = Int32(g.nextInt(below: model.classes)) }
    }

    deinit { labels.deallocate() }
}

public enum Benchmark {
    /// Per-layer forward and backward seconds per step (and the loss and optimizer), to see
    /// where a step's time goes. Same arithmetic as `Sequential.trainStep`, on one replica
    /// with the whole batch (a data-parallel model's replicas each take half).
    public static func profile(_ e: Experiment, steps: Int, warmup: Int) throws -> String {
        let plan = try RunPlan(experiment: e, loadData: false)
        let model = plan.model, optimizer = plan.optimizer, batch = e.training.batchSize
        optimizer.attach(model.parameters)
        let synthetic = SyntheticBatch(model: model, batch: batch)
        let input = synthetic.input, labels = synthetic.labels
        let gradient = FloatBuffer(count: batch * model.classes)
        let n = model.layers.count
        var forward = [Double](repeating: 0, count: n), backward = forward
        var lossTime = 0.0, optimizerTime = 0.0
        let firstLearning = model.layers.firstIndex { !$0.parameters.isEmpty } ?? n
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        // Each layer's GEMM calls (forward and backward), seen in the first timed step.
        var calls = [[BLAS.GemmCall]](repeating: [], count: n)
        var recordingLayer = 0
        for step in 0..<(warmup + steps) {
            let timed = step >= warmup
            if step == warmup { BLAS.gemmRecorder = { calls[recordingLayer].append($0) } }
            var x = input.pointer
            for (i, layer) in model.layers.enumerated() {
                recordingLayer = i
                let t = now()
                x = layer.forward(x, batch: batch, training: true)
                if timed { forward[i] += Double(now() - t) / 1e9 }
            }
            var t = now()
            let targets: LossTargets = model.reconstructsInput ? .values(input.pointer) : .labels(labels)
            _ = model.loss.evaluate(logits: x, targets: targets, batch: batch, classes: model.classes, gradient: gradient.pointer)
            if timed { lossTime += Double(now() - t) / 1e9 }
            var dy: UnsafeMutablePointer<Float>? = gradient.pointer
            for i in stride(from: n - 1, through: firstLearning, by: -1) {
                recordingLayer = i
                let t = now()
                dy = model.layers[i].backward(dy!, batch: batch, needsInputGradient: i > firstLearning)
                if timed { backward[i] += Double(now() - t) / 1e9 }
            }
            BLAS.gemmRecorder = nil
            t = now()
            optimizer.step()
            if timed { optimizerTime += Double(now() - t) / 1e9 }
        }
        let total = forward.reduce(0, +) + backward.reduce(0, +) + lossTime + optimizerTime
        let gemmOnly = timeAlone(calls)
        func name(_ s: String) -> String { s.padding(toLength: max(32, s.count), withPad: " ", startingAt: 0) }
        var out = name("layer") + "     fwd ms     bwd ms    share  GFLOP/s   GEMM-alone ms  of layer\n"
        for (i, layer) in model.layers.enumerated() {
            let ms = (forward[i] + backward[i]) / Double(steps) * 1000
            let flops = Double(layer.forwardFlopsPerSample * batch) * (i == firstLearning ? 2 : 3)
            out += name("\(layer.name) (\(layer.typeName))") + String(format: " %10.3f %10.3f %7.1f%% %8.1f",
                          forward[i] / Double(steps) * 1000, backward[i] / Double(steps) * 1000, 100 * (forward[i] + backward[i]) / total,
                          ms > 0 ? flops / (ms / 1000) / 1e9 : 0)
            out += calls[i].isEmpty ? "\n" : String(format: " %15.3f %8.0f%%\n", gemmOnly[i] * 1000, ms > 0 ? 100 * gemmOnly[i] * 1000 / ms : 0)
        }
        out += name("loss") + String(format: " %10.3f            %7.1f%%\n", lossTime / Double(steps) * 1000, 100 * lossTime / total)
        out += name("optimizer") + String(format: " %10.3f            %7.1f%%\n", optimizerTime / Double(steps) * 1000, 100 * optimizerTime / total)
        out += String(format: "step %.3f ms, %.0f samples/s\n", total / Double(steps) * 1000, Double(batch * steps) / total)
        let gemmStep = gemmOnly.reduce(0, +)
        guard gemmStep > 0 else { return out + "no GEMM calls: every layer runs its own loops\n" }
        out += String(format: "GEMMs alone (the layers' own calls, each timed with nothing around it, %d BLAS thread%@): %.3f ms, "
                      + "%.0f samples/s if a step were its GEMMs and nothing else; %.0f%% of the step\n",
                      BLAS.threads, BLAS.threads == 1 ? "" : "s", gemmStep * 1000, Double(batch) / gemmStep,
                      100 * gemmStep / (total / Double(steps)))
        if plan.dataParallelWorkers > 1 {
            let workers = plan.dataParallelWorkers
            out += String(format: "(profiled as one model with the whole batch; training splits it over %d replicas, one per core, "
                          + "so GEMMs alone would allow at most about %.0f samples/s)\n", workers, Double(batch * workers) / gemmStep)
        }
        return out
    }

    /// Seconds per layer that its recorded GEMM calls take on their own.
    static func timeAlone(_ calls: [[BLAS.GemmCall]]) -> [Double] {
        let all = calls.joined()
        func largest(_ size: (BLAS.GemmCall) -> Int) -> Int { all.map(size).max() ?? 0 }
        let a = FloatBuffer(count: max(1, largest { $0.m * $0.k }))
        let b = FloatBuffer(count: max(1, largest { $0.k * $0.n }))
        let c = FloatBuffer(count: max(1, largest { $0.m * $0.n }))
        return calls.map { layerCalls in layerCalls.reduce(0) { $0 + BLAS.time($1, scratch: a.pointer, b.pointer, c.pointer) } }
    }

    public static func run(_ e: Experiment, steps: Int, warmup: Int) throws -> BenchmarkResult {
        let plan = try RunPlan(experiment: e, loadData: false)
        let model = plan.model, optimizer = plan.optimizer, batch = e.training.batchSize
        optimizer.attach(model.parameters)
        let synthetic = SyntheticBatch(model: model, batch: batch)
        let input = synthetic.input, labels = synthetic.labels

        for _ in 0..<warmup {
            model.trainStep(input.pointer, labels: labels, batch: batch)
            optimizer.step()
        }
        let t0 = DispatchTime.now()
        for _ in 0..<steps {
            model.trainStep(input.pointer, labels: labels, batch: batch)
            optimizer.step()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        let rate = Double(batch * steps) / seconds
        return BenchmarkResult(experiment: e.name, batchSize: batch, steps: steps, seconds: seconds, samplesPerSecond: rate,
                               gflopsPerSecond: rate * Double(model.trainingFlopsPerSample) / 1e9,
                               trainingFlopsPerSample: model.trainingFlopsPerSample, params: model.parameterCount, threads: plan.threads,
                               dataParallelWorkers: plan.dataParallelWorkers, instructionSet: InstructionSet.current.name)
    }
}
