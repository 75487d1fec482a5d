import Foundation
import Testing
import FashionExperiments

/// `fashionbench replay`: step-by-step training from given weights on given batches.
@Suite struct ReplayTests {
    static let yaml = """
    name: replay_tiny
    seed: 5
    model:
      input_shape: [6, 6, 1]
      layers:
        - {type: Conv2D, filters: 3, kernel_size: 3, activation: relu}
        - type: Flatten
        - {type: Dense, units: 10, activation: softmax}
    training:
      batch_size: 4
      optimizer: {name: adam, learning_rate: 0.01}
      loss: categorical_crossentropy
    """

    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-replay-\(UUID().uuidString)")

    /// Writes the model's seeded initial weights, `batches` batches of inputs (in order) and labels.
    func fixture(batches: [[Float]], labels: [[Int32]], name: String) throws -> (Experiment, URL, URL, URL) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let e = try Experiment.parse(yaml: Self.yaml, file: "Experiments/replay_tiny.yaml")
        let weights = dir.appendingPathComponent("init.h5")
        if !FileManager.default.fileExists(atPath: weights.path) {
            try ModelWeights.save(try RunPlan(experiment: e, loadData: false).model, to: weights)
        }
        let inputs = dir.appendingPathComponent("\(name).f32"), labelFile = dir.appendingPathComponent("\(name).i32")
        try batches.flatMap { $0 }.withUnsafeBytes { try Data($0).write(to: inputs) }
        try labels.flatMap { $0 }.withUnsafeBytes { try Data($0).write(to: labelFile) }
        return (e, weights, inputs, labelFile)
    }

    static func batch(_ k: Int) -> [Float] { (0..<(4 * 36)).map { Float(($0 * 7 + k * 13) % 17) / 17 } }

    @Test func weightsAfterAStepContinueTheSameTrajectory() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let b1 = Self.batch(1), b2 = Self.batch(2)
        let l1: [Int32] = [0, 1, 2, 3], l2: [Int32] = [3, 3, 1, 0]
        let (e, initial, inputs, labels) = try fixture(batches: [b1, b2], labels: [l1, l2], name: "ab")
        let first = try Replay.run(e, weights: initial, inputs: inputs, labels: labels, steps: 4, saveAt: [1, 3],
                                   output: dir.appendingPathComponent("first"))
        #expect(first.losses.map(\.0) == [1, 2, 3, 4])
        #expect(first.weightFiles.map(\.lastPathComponent) == ["weights_1.h5", "weights_3.h5"])
        // Batches wrap around: steps 1 and 3 see b1; the loss is taken before the update, and
        // Adam has moved the weights in between.
        #expect(first.losses[0].1 != first.losses[2].1)
        #expect(first.losses[3].1 < first.losses[1].1, "training on b2 twice lowers its loss")
        let csv = try String(contentsOf: dir.appendingPathComponent("first/loss.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 5)

        // From the weights after step 1, the first step on b2 sees exactly step 2's weights.
        let (_, _, swapped, swappedLabels) = try fixture(batches: [b2, b1], labels: [l2, l1], name: "ba")
        let second = try Replay.run(e, weights: first.weightFiles[0], inputs: swapped, labels: swappedLabels, steps: 1,
                                    saveAt: [], output: dir.appendingPathComponent("second"))
        #expect(second.losses[0].1 == first.losses[1].1)

        // Same weights, batches and thread count: the same numbers.
        let again = try Replay.run(e, weights: initial, inputs: inputs, labels: labels, steps: 4, saveAt: [],
                                   output: dir.appendingPathComponent("again"))
        #expect(again.losses.map(\.1) == first.losses.map(\.1))
    }

    @Test func badFilesAreClearErrors() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (e, initial, inputs, labels) = try fixture(batches: [Self.batch(1)], labels: [[0, 1, 2, 3]], name: "one")
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        let truncated = dir.appendingPathComponent("short.f32")
        try Data(try Data(contentsOf: inputs).dropLast(4)).write(to: truncated)
        #expect(message { _ = try Replay.run(e, weights: initial, inputs: truncated, labels: labels, steps: 1, saveAt: [],
                                             output: dir.appendingPathComponent("o1")) }.contains("not a whole number"))
        #expect(message { _ = try Replay.run(e, weights: initial, inputs: inputs, labels: nil, steps: 1, saveAt: [],
                                             output: dir.appendingPathComponent("o2")) }.contains("--labels"))
        let badLabels = dir.appendingPathComponent("bad.i32")
        try [Int32(0), 1, 12, 2].withUnsafeBytes { try Data($0).write(to: badLabels) }
        #expect(message { _ = try Replay.run(e, weights: initial, inputs: inputs, labels: badLabels, steps: 1, saveAt: [],
                                             output: dir.appendingPathComponent("o3")) }.contains("label 12 of sample 2"))
        // An existing directory is never written into.
        let existing = dir.appendingPathComponent("kept")
        try FileManager.default.createDirectory(at: existing, withIntermediateDirectories: true)
        try Data("earlier".utf8).write(to: existing.appendingPathComponent("loss.csv"))
        #expect(message { _ = try Replay.run(e, weights: initial, inputs: inputs, labels: labels, steps: 1, saveAt: [],
                                             output: existing) }.contains("never overwrites"))
        #expect(try String(contentsOf: existing.appendingPathComponent("loss.csv"), encoding: .utf8) == "earlier")
    }
}
