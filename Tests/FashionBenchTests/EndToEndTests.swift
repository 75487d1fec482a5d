import Foundation
import Testing
import FashionData
import FashionExperiments

/// Real Fashion-MNIST, real runs: skipped only where the Debian package is not installed.
@Suite(.serialized, .enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory + "/t10k-labels-idx1-ubyte.gz")))
struct EndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func temporaryResults() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-e2e-\(UUID().uuidString)")
    }

    func experiment(_ name: String, _ overrides: Overrides, testLimit: Int? = nil) throws -> Experiment {
        var e = try Experiment.load(file: Self.root.appendingPathComponent("Experiments/\(name).yaml").path, overrides: overrides)
        e.data.testLimit = testLimit
        return e
    }

    @Test func model1LearnsFromTwoThousandImages() throws {
        let results = temporaryResults()
        defer { try? FileManager.default.removeItem(at: results) }
        let e = try experiment("model_1", Overrides(epochs: 2, limit: 2000), testLimit: 1000)
        let r = try Runner.run(e, resultsRoot: results.path, log: { _ in }, liveProgress: false)
        #expect(r.history.count == 2)
        #expect((r.testAccuracy ?? 0) > 0.70, "test accuracy \(String(describing: r.testAccuracy))")
        #expect(r.history[1].loss < r.history[0].loss)

        // The run directory holds the resolved experiment, the history and the metrics.
        let files = try FileManager.default.contentsOfDirectory(atPath: r.directory.path)
        for f in ["experiment.yaml", "history.csv", "metrics.json", "model_summary.txt"] { #expect(files.contains(f), "\(f) missing") }
        let csv = try String(contentsOf: r.directory.appendingPathComponent("history.csv"), encoding: .utf8)
        let lines = csv.split(separator: "\n")
        #expect(lines.first == "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds")
        #expect(lines.count == 3)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: r.directory.appendingPathComponent("metrics.json"))) as! [String: Any]
        for key in ["test_accuracy", "test_loss", "params", "epochs_run", "train_seconds", "samples_per_second", "seed", "git_commit"] {
            #expect(json[key] != nil, "metrics.json lacks \(key)")
        }
        #expect(json["params"] as? Int == 203_530)
        #expect(json["epochs_run"] as? Int == 2)
        #expect((json["test_accuracy"] as? Double) == r.testAccuracy)
        let resolved = try Experiment.load(file: r.directory.appendingPathComponent("experiment.yaml").path)
        #expect(resolved.training.epochs == 2 && resolved.data.limit == 2000)
    }

    @Test func sameSeedSameHistory() throws {
        let results = temporaryResults()
        defer { try? FileManager.default.removeItem(at: results) }
        let e = try experiment("model_2", Overrides(epochs: 2, seed: 5, limit: 600), testLimit: 200)
        let a = try Runner.run(e, resultsRoot: results.path, log: { _ in }, liveProgress: false)
        let b = try Runner.run(e, resultsRoot: results.path, log: { _ in }, liveProgress: false)
        #expect(a.directory != b.directory, "a run id was reused")
        #expect(a.history.map(\.loss) == b.history.map(\.loss))
        #expect(a.history.map(\.accuracy) == b.history.map(\.accuracy))
        #expect(a.history.map(\.valLoss) == b.history.map(\.valLoss))
        #expect(a.testLoss == b.testLoss)
        let c = try Runner.run(try experiment("model_2", Overrides(epochs: 2, seed: 6, limit: 600), testLimit: 200),
                               resultsRoot: results.path, log: { _ in }, liveProgress: false)
        #expect(c.history.map(\.loss) != a.history.map(\.loss), "the seed changes nothing")
    }

    @Test func aBrokenModelLeavesNoRunDirectory() throws {
        let results = temporaryResults()
        defer { try? FileManager.default.removeItem(at: results) }
        let yaml = try String(contentsOf: Self.root.appendingPathComponent("Experiments/model_2.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "{type: MaxPooling2D, pool_size: 2}", with: "{type: MaxPooling2D, pool_size: 30}")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: (any Error).self) {
            _ = try Runner.run(try Experiment.load(file: file.path), resultsRoot: results.path, log: { _ in }, liveProgress: false)
        }
        #expect(!FileManager.default.fileExists(atPath: results.path))
    }
}
