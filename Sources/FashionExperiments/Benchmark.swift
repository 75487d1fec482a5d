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

    public var json: [String: Any] {
        ["experiment": experiment, "batch_size": batchSize, "steps": steps, "seconds": seconds,
         "samples_per_second": samplesPerSecond, "gflops_per_second": gflopsPerSecond,
         "training_flops_per_sample": trainingFlopsPerSample, "params": params, "threads": threads]
    }
}

public enum Benchmark {
    public static func run(_ e: Experiment, steps: Int, warmup: Int) throws -> BenchmarkResult {
        let plan = try RunPlan(experiment: e, loadData: false)
        let model = plan.model
        let batch = e.training.batchSize
        let optimizer = plan.optimizer
        optimizer.attach(model.parameters)
        let input = FloatBuffer(count: batch * model.inputShape.reduce(1, *))
        var g = SeededGenerator(seed: 0, stream: "bench")
        for i in 0..<input.count { input.pointer[i] = g.nextUnitFloat() }
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batch)
        defer { labels.deallocate() }
        for i in 0..<batch { labels[i] = Int32(g.nextInt(below: model.classes)) }

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
                               trainingFlopsPerSample: model.trainingFlopsPerSample, params: model.parameterCount, threads: plan.threads)
    }
}
