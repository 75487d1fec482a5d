import Foundation
import FashionConfig
import FashionReports

/// `fashionbench report Results/`: one row per experiment over every complete run (a run
/// directory with metrics.json, including the members of repeat groups): runs, best and mean
/// test accuracy (best reconstruction MSE for autoencoders), the paper's value, parameters, mean training time and samples/s.
public enum ResultsIndex {
    struct Row {
        var experiment: String
        var runs = 0
        var accuracies: [Double] = []
        var reconstructionMSE: [Double] = []
        var trainSeconds: [Double] = []
        var samplesPerSecond: [Double] = []
        var params: Int?
        var paper: String = ""
    }

    /// Writes index.csv, index.md and index.html; returns them and the metrics files left out,
    /// each with why (unreadable, not a JSON object, values of the wrong kind, a failed run).
    public static func write(root: String) throws -> (written: [URL], skipped: [String]) {
        guard !root.isEmpty else { throw HarnessError("the results directory is an empty path; name one, e.g. Results") }
        let rootURL = URL(fileURLWithPath: root, isDirectory: true)
        guard let experiments = try? FileManager.default.contentsOfDirectory(atPath: rootURL.path) else {
            throw HarnessError("\(root): not a readable directory")
        }
        var rows: [Row] = []
        var skipped: [String] = []
        for name in experiments.sorted() where !["sweeps", "comparisons"].contains(name) {
            let dir = rootURL.appendingPathComponent(name, isDirectory: true)
            var row = Row(experiment: name)
            for metricsFile in metricsFiles(under: dir, depth: 2) {
                let m: [String: Any]
                switch read(metricsFile) {
                case .success(let values): m = values
                case .failure(let problem):
                    skipped.append("\(metricsFile.path): \(problem.description)")
                    continue
                }
                row.runs += 1
                if let accuracy = m["test_accuracy"] as? Double { row.accuracies.append(accuracy) }
                if let mse = m["test_reconstruction_mse"] as? Double { row.reconstructionMSE.append(mse) }
                if let t = m["train_seconds"] as? Double { row.trainSeconds.append(t) }
                if let s = m["samples_per_second"] as? Double { row.samplesPerSecond.append(s) }
                row.params = (m["params"] as? Int) ?? row.params
                if let ref = m["reference"] as? [String: Any] {
                    let parts = [("test", ref["test_accuracy"]), ("val", ref["validation_accuracy"])].compactMap { label, v in
                        (v as? Double).map { String(format: "%@ %.3f", label, $0) }
                    }
                    if !parts.isEmpty { row.paper = parts.joined(separator: ", ") }
                }
            }
            if row.runs > 0 { rows.append(row) }
        }
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "" }
        let header = ["experiment", "runs", "best_test_accuracy", "mean_test_accuracy", "best_test_reconstruction_mse", "paper", "params",
                      "mean_train_seconds", "mean_samples_per_second"]
        let table = rows.map { r in
            [r.experiment, String(r.runs), f(r.accuracies.max(), "%.4f"), f(mean(r.accuracies), "%.4f"), f(r.reconstructionMSE.min(), "%.6f"), r.paper,
             r.params.map(String.init) ?? "", f(mean(r.trainSeconds), "%.1f"), f(mean(r.samplesPerSecond), "%.0f")]
        }
        var doc = Document(title: "FashionBench results")
        doc.add(.paragraph("Every complete run under \(root) (a run directory with metrics.json), one row per experiment. Paper values are those of each experiment's reference block."))
        doc.add(.table(header, table))
        if !skipped.isEmpty { doc.add(.paragraph("Left out: " + skipped.joined(separator: "; "))) }
        let outputs = [rootURL.appendingPathComponent("index.csv"), rootURL.appendingPathComponent("index.md"), rootURL.appendingPathComponent("index.html")]
        try ResultFiles.write(ResultFiles.csv(header: header, rows: table), to: outputs[0])
        try ResultFiles.write(doc.markdown(), to: outputs[1])
        try ResultFiles.write(doc.html(directory: rootURL), to: outputs[2])
        return (outputs, skipped)
    }

    /// A metrics.json's values, or why it cannot count as a run: its statistics must be
    /// numbers and accuracies within [0, 1]; a run directory that also holds failed.txt did
    /// not finish.
    static func read(_ url: URL) -> Result<[String: Any], HarnessError> {
        func left(_ why: String) -> Result<[String: Any], HarnessError> { .failure(HarnessError(why)) }
        if FileManager.default.fileExists(atPath: url.deletingLastPathComponent().appendingPathComponent("failed.txt").path) {
            return left("its run did not finish (failed.txt)")
        }
        if let why = FileKind.notRegular(url.path) { return left(why) }
        guard let data = try? Data(contentsOf: url) else { return left("cannot be read") }
        guard let json = try? JSONSerialization.jsonObject(with: data) else { return left("is not valid JSON") }
        guard let m = json as? [String: Any] else { return left("is not a JSON object") }
        guard m["test_accuracy"] != nil || m["test_reconstruction_mse"] != nil else { return left("has neither test_accuracy nor test_reconstruction_mse") }
        do {
            let stats = try JSONDecoder().decode(Statistics.self, from: data)
            if let a = stats.test_accuracy, !(0...1).contains(a) { return left("test_accuracy \(a) is outside [0, 1]") }
        } catch let DecodingError.typeMismatch(_, context) {
            return left("\(context.codingPath.map(\.stringValue).joined(separator: ".")) is not a number")
        } catch {
            return left("cannot be decoded (\(error))")
        }
        return .success(m)
    }

    /// The statistics the index reads; JSONDecoder refuses strings and booleans for them.
    private struct Statistics: Decodable {
        var test_accuracy: Double?
        var test_reconstruction_mse: Double?
        var train_seconds: Double?
        var samples_per_second: Double?
    }

    /// metrics.json files at most `depth` directories below `dir` (run, or group/seed-run).
    static func metricsFiles(under dir: URL, depth: Int) -> [URL] {
        guard depth > 0, let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        var out: [URL] = []
        for name in names.sorted() {
            let sub = dir.appendingPathComponent(name, isDirectory: true)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sub.path, isDirectory: &isDir), isDir.boolValue else { continue }
            let m = sub.appendingPathComponent("metrics.json")
            if FileManager.default.fileExists(atPath: m.path) { out.append(m) } else { out += metricsFiles(under: sub, depth: depth - 1) }
        }
        return out
    }
}
