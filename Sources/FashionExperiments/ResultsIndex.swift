import Foundation
import FashionConfig
import FashionReports

/// `fashionbench report Results/`: one row per experiment over every complete run (a run
/// directory with metrics.json, including the members of repeat groups): runs, best and mean
/// test accuracy (best reconstruction MSE for autoencoders), the paper's value, parameters, mean training time and samples/s.
/// Runs of one experiment whose settings differ (`--set`, `--epochs`, an edited file: their
/// `experiment.yaml` read through today's parser, apart from the seed, thread count, output and
/// notes) get rows of their own; the `settings` column says how each differs from the others.
public enum ResultsIndex {
    /// Names `report` writes or passes over at the top of a results directory.
    public static let reservedNames: Set<String> = ["sweeps", "comparisons", "index.csv", "index.md", "index.html"]

    struct Row {
        var experiment: String
        var settings = ""
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
        let outputs = [rootURL.appendingPathComponent("index.csv"), rootURL.appendingPathComponent("index.md"), rootURL.appendingPathComponent("index.html")]
        // Checked before anything is written: the index replaces all three files or none.
        for url in outputs {
            if let why = FileKind.notRegular(url.path), FileManager.default.fileExists(atPath: url.path) {
                throw HarnessError("\(url.path) \(why); the index writes index.csv, index.md and index.html there (move it away)")
            }
        }
        var rows: [Row] = []
        var skipped: [String] = []
        var seen = Set<String>()
        // Runs by the folder under the results directory they really live in (one reached
        // through a link of another name is no other experiment); runs elsewhere, by the folder
        // that leads to them.
        let realRoot = rootURL.resolvingSymlinksInPath().path + "/"
        var runsOf: [String: [(settings: [String: String], metrics: [String: Any])]] = [:]
        for name in experiments.sorted() where !reservedNames.contains(name) {
            let dir = rootURL.appendingPathComponent(name, isDirectory: true)
            for metricsFile in metricsFiles(under: dir, depth: 2, unreadable: { skipped.append("\($0.path): cannot be read (\($1)); its runs are not counted") }) {
                // A run reached twice (a symbolic link to it, or to a directory above it) counts once.
                guard seen.insert(metricsFile.resolvingSymlinksInPath().path).inserted else { continue }
                switch read(metricsFile) {
                case .success(let values):
                    let real = metricsFile.resolvingSymlinksInPath().path
                    let folder = real.hasPrefix(realRoot) ? real.dropFirst(realRoot.count).split(separator: "/").first.map(String.init) : nil
                    let experiment = folder.flatMap { reservedNames.contains($0) ? nil : $0 } ?? name
                    do { runsOf[experiment, default: []].append((try RunSettings.of(runDirectory: metricsFile.deletingLastPathComponent()), values)) } catch {
                        skipped.append("\(metricsFile.path): its run's settings are unknown: \(error)")
                    }
                case .failure(let problem): skipped.append("\(metricsFile.path): \(problem.description)")
                }
            }
        }
        for name in runsOf.keys.sorted() { rows += variantRows(experiment: name, runs: runsOf[name]!) }
        func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
        // Plain decimals, but no 300-digit number from a damaged file.
        func f(_ v: Double?, _ format: String) -> String { v.map { abs($0) < 1e9 ? String(format: format, $0) : String(format: "%.4g", $0) } ?? "" }
        let header = ["experiment", "settings", "runs", "best_test_accuracy", "mean_test_accuracy", "best_test_reconstruction_mse", "paper", "params",
                      "mean_train_seconds", "mean_samples_per_second"]
        let table = rows.map { r in
            [r.experiment, r.settings, String(r.runs), f(r.accuracies.max(), "%.4f"), f(mean(r.accuracies), "%.4f"), f(r.reconstructionMSE.min(), "%.6f"), r.paper,
             r.params.map(String.init) ?? "", f(mean(r.trainSeconds), "%.1f"), f(mean(r.samplesPerSecond), "%.0f")]
        }
        var doc = Document(title: "FashionBench results")
        doc.add(.paragraph("Every complete run under \(root) (a run directory with metrics.json; sweeps/ and comparisons/ are indexed by their own tables), one row per experiment, "
                           + "and one per variant of it made with other settings (the settings column names what sets the variants apart). Paper values are those of each experiment's reference block."))
        doc.add(.table(header, table))
        if !skipped.isEmpty { doc.add(.paragraph("Left out: " + skipped.joined(separator: "; "))) }
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
        guard let json = try? JSONSerialization.jsonObject(with: data) else { return left("is not valid JSON (or holds a number beyond float64's range)") }
        guard let m = json as? [String: Any] else { return left("is not a JSON object") }
        do {
            let stats = try JSONDecoder().decode(Statistics.self, from: data)
            guard stats.test_accuracy != nil || stats.test_reconstruction_mse != nil else {
                return left("has no test_accuracy or test_reconstruction_mse (a number)")
            }
            if let a = stats.test_accuracy, !(0...1).contains(a) { return left("test_accuracy \(a) is outside [0, 1]") }
            for (key, value) in [("test_reconstruction_mse", stats.test_reconstruction_mse), ("train_seconds", stats.train_seconds),
                                 ("samples_per_second", stats.samples_per_second)] {
                if let value, value < 0 { return left("\(key) \(value) is negative") }
            }
            if let p = stats.params, p < 1 || p != p.rounded() || p > 1e15 { return left("params \(p) is not a positive integer") }
        } catch let DecodingError.typeMismatch(_, context) {
            return left("\(context.codingPath.map(\.stringValue).joined(separator: ".")) is not a number")
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            return left("\(context.codingPath.map(\.stringValue).joined(separator: ".")) is not a number (\(context.debugDescription))")
        } catch {
            return left("cannot be decoded (\(error))")
        }
        return .success(m)
    }

    /// The statistics the index reads; JSONDecoder refuses strings and booleans for them.
    /// (params is read as a number and checked to be whole: Foundation's decoder reports a
    /// fraction for an Int as damaged JSON, naming no key.)
    private struct Statistics: Decodable {
        var test_accuracy: Double?
        var test_reconstruction_mse: Double?
        var train_seconds: Double?
        var samples_per_second: Double?
        var params: Double?
    }

    /// One row per group of runs with the same settings, the largest first (the earlier on a
    /// tie); with more than one, each row's `settings` lists the keys on which the groups do
    /// not all agree, with this group's values (`none` where it has no such key).
    static func variantRows(experiment: String, runs: [(settings: [String: String], metrics: [String: Any])]) -> [Row] {
        var groups: [(settings: [String: String], metrics: [[String: Any]])] = []
        for run in runs {
            if let i = groups.firstIndex(where: { $0.settings == run.settings }) { groups[i].metrics.append(run.metrics) } else { groups.append((run.settings, [run.metrics])) }
        }
        let order = groups.indices.sorted { groups[$0].metrics.count != groups[$1].metrics.count ? groups[$0].metrics.count > groups[$1].metrics.count : $0 < $1 }
        let allKeys = Set(groups.flatMap(\.settings.keys))
        let differing = allKeys.filter { key in Set(groups.map { $0.settings[key] ?? "\u{0}" }).count > 1 }.sorted()
        return order.map { g in
            var row = Row(experiment: experiment)
            row.settings = differing.map { "\($0)=\(groups[g].settings[$0] ?? "none")" }.joined(separator: "; ")
            for m in groups[g].metrics {
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
            return row
        }
    }

    /// `unreadable` hears of each directory that could not be listed, with the reason.
    static func metricsFiles(under dir: URL, depth: Int, unreadable: (URL, String) -> Void = { _, _ in }) -> [URL] {
        var isDirectory: ObjCBool = false
        guard depth > 0, FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else { return [] }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
            unreadable(dir, FileProblem.reason(error, path: dir.path))
            return []
        }
        var out: [URL] = []
        for name in names.sorted() {
            let sub = dir.appendingPathComponent(name, isDirectory: true)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sub.path, isDirectory: &isDir), isDir.boolValue else { continue }
            let m = sub.appendingPathComponent("metrics.json")
            if FileManager.default.fileExists(atPath: m.path) { out.append(m) } else { out += metricsFiles(under: sub, depth: depth - 1, unreadable: unreadable) }
        }
        return out
    }
}
