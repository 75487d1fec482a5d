import Foundation
import CSV
import Yams
import FashionConfig
import FashionReports
import FashionStats

/// Runs a sweep's trials (all, or one shard's) and merges shards into `sweep.csv`, sorted by
/// the sweep's metric. Layout: `Results/sweeps/<name>/trials/<trial-id>/<run-id>/` for the
/// runs, `shard-<i>-of-<n>.csv` per shard (never overwritten) and `shard-<i>-of-<n>.lock` (the
/// claim of a running shard), `sweep.csv` and the chart from `--collect` (or straight away
/// when the sweep runs in one go).
public enum SweepRunner {
    /// Every metric a sweep may rank by (`Sweep.metrics`) has a column.
    public static let resultColumns = ["test_accuracy", "test_loss", "test_reconstruction_mse", "best_val_accuracy", "final_val_accuracy",
                                       "best_val_loss", "final_val_loss", "epochs_run"]

    /// What a shard run or a collect leaves for the command line: the sweep's directory and
    /// the trials that failed (their label and reason), which make the command exit non-zero
    /// once the tables are written.
    public struct Outcome {
        public var directory: URL
        public var failed: [String]
    }

    public static func directory(_ sweep: Sweep, root: String?) -> URL {
        URL(fileURLWithPath: root ?? sweep.outputDirectory).appendingPathComponent(sweep.name, isDirectory: true)
    }

    public static func run(_ sweep: Sweep, shard: Shard, root: String? = nil, overrides: Overrides = Overrides(),
                           log: @escaping (String) -> Void) throws -> Outcome {
        let dir = directory(sweep, root: root)
        let shardFile = dir.appendingPathComponent(shardName(shard, "csv"))
        // A shard without trials would write a table of nothing that `--collect` then cannot
        // use: refused before anything is written.
        guard shard.count <= sweep.trials.count else {
            throw HarnessError("shard \(shard.index)/\(shard.count): \(sweep.file) has \(sweep.trials.count) trial\(sweep.trials.count == 1 ? "" : "s"), so it splits into at most \(sweep.trials.count) shards; use --shard i/n with n ≤ \(sweep.trials.count)")
        }
        try checkNotRun(shardFile)
        try checkOneSplit(dir, shard: shard)
        let trials = sweep.trials(shard: shard.index, of: shard.count)
        // Every trial's file and model are checked before anything runs or is written, and so
        // is what only the data shows (split sizes, classes, the input shape, init_from's
        // weights), once for each distinct data, model, seed and init_from of the trials.
        // Every trial's experiment is read once: the metric must suit the whole sweep.
        let all = try sweep.trials.map { try sweep.experiment(for: $0, overrides: overrides) }
        try sweep.checkMetric(all)
        let experiments = trials.map { all[$0.index] }
        var checkedWithData: Set<String> = []
        for e in experiments {
            _ = try RunPlan(experiment: e, loadData: checkedWithData.insert(try dataCheckKey(e)).inserted)
        }
        let trialsRoot = dir.appendingPathComponent("trials")
        try FileManager.default.createDirectory(at: trialsRoot, withIntermediateDirectories: true)
        let claim = try ShardClaim(dir.appendingPathComponent(shardName(shard, "lock")), shard: shard)
        defer { claim.release() }
        // Again with the claim held: another process may have finished this shard, or started
        // one of another split, since the checks above.
        try checkNotRun(shardFile)
        try checkOneSplit(dir, shard: shard)
        log("Sweep \(sweep.name): shard \(shard.index)/\(shard.count) runs \(trials.count) of \(sweep.trials.count) trials")

        var rows: [[String]] = []
        var failed: [String] = []
        for (trial, e) in zip(trials, experiments) {
            log("\(trial.id): " + trial.values.map { "\($0.0)=\($0.1)" }.joined(separator: ", "))
            let trialDirectory = trialsRoot.appendingPathComponent(trial.id)
            let earlier = Set((try? FileManager.default.contentsOfDirectory(atPath: trialDirectory.path)) ?? [])
            let settings = RunSettings.fingerprint(RunSettings.of(e, keepingSeed: true))
            do {
                // With repeats, the trial is the group of seeds and ranks by their mean.
                var runs: [RunResult]
                var runDirectory: URL
                if e.repeats > 1 {
                    let group = try Runner.runRepeats(e, resultsRoot: trialsRoot.path, log: { _ in }, liveProgress: false)
                    runs = group.runs
                    runDirectory = group.directory
                } else {
                    let r = try Runner.run(e, resultsRoot: trialsRoot.path, log: { _ in }, liveProgress: false)
                    runs = [r]
                    runDirectory = r.directory
                }
                let results = trialResults(runs)
                let of = runs.count > 1 ? ", mean of \(runs.count) seeds" : ""
                if let accuracy = results["test_accuracy"] {
                    log(String(format: "  test accuracy %.4f, test loss %.4f (%@%@)", accuracy, results["test_loss"] ?? .nan, runDirectory.lastPathComponent, of))
                } else {
                    log(String(format: "  test reconstruction MSE %.6f, test loss %.4f (%@%@)", results["test_reconstruction_mse"] ?? .nan,
                               results["test_loss"] ?? .nan, runDirectory.lastPathComponent, of))
                }
                rows.append(row(trial, status: "ok", seeds: runs.count, results: results,
                                spread: spread(of: sweep.metric, runs), runDirectory: runDirectory.path, settings: settings, error: ""))
            } catch RunError.interrupted(let path) {
                throw RunError.interrupted(path)  // the whole sweep stops; the shard has no table
            } catch {
                // One trial's failure (a diverged learning rate, say) is recorded and the sweep
                // goes on; the run directory it left (with failed.txt) is the one new in the
                // trial's directory, which only this shard writes while it holds its claim.
                let reason = "\(error)".replacingOccurrences(of: "\n", with: " ")
                let created = Set((try? FileManager.default.contentsOfDirectory(atPath: trialDirectory.path)) ?? []).subtracting(earlier)
                let runDirectory = created.sorted().last.map { trialDirectory.appendingPathComponent($0).path } ?? ""
                log("  \(trial.label) failed: \(reason)")
                failed.append("\(trial.label): \(reason)")
                rows.append(row(trial, status: "failed", seeds: e.repeats, results: [:], spread: nil, runDirectory: runDirectory,
                                settings: settings, error: reason))
            }
        }
        try writeNew(ResultFiles.csv(header: header(sweep), rows: rows), to: shardFile)
        if shard.count == 1 { return try collect(sweep, root: root, log: log) }
        return Outcome(directory: dir, failed: failed)
    }

    /// A trial's results: its run's metrics, or with repeats each metric's mean over the
    /// seeds (when every seed has it, as `summary.csv`); `train_seconds` is the total.
    static func trialResults(_ runs: [RunResult]) -> [String: Double] {
        var results: [String: Double] = [:]
        for key in resultColumns {
            let values = runs.compactMap { RepeatSummary.number($0.metrics[key]) }
            if values.count == runs.count, !values.isEmpty { results[key] = values.reduce(0, +) / Double(values.count) }
        }
        results["train_seconds"] = runs.compactMap { RepeatSummary.number($0.metrics["train_seconds"]) }.reduce(0, +)
        return results
    }

    /// The sample standard deviation (n − 1) of `metric` over a trial's seeds, as in
    /// `summary.csv`: how far the mean it is ranked by can be trusted. Nil for one seed.
    static func spread(of metric: String, _ runs: [RunResult]) -> Double? {
        let values = runs.compactMap { RepeatSummary.number($0.metrics[metric]) }
        guard values.count == runs.count, values.count > 1 else { return nil }
        return Summary.of(values).standardDeviation
    }

    /// What a check with data depends on: the resolved data and model sections, the seed
    /// (splits) and init_from.
    static func dataCheckKey(_ e: Experiment) throws -> String {
        guard let node = try Yams.compose(yaml: e.resolvedYAML) else { return e.resolvedYAML }
        let sections = try ["data", "model"].map { try node[$0].map { try Yams.serialize(node: $0) } ?? "" }
        return ([String(e.seed), e.training.initFrom ?? ""] + sections).joined(separator: "\u{1F}")
    }

    /// Trial, its values, `status` (ok or failed) and `seeds`, the results (means over the
    /// seeds with repeats), the metric's standard deviation over the seeds, then the columns
    /// that differ from one run of the sweep to another.
    static func header(_ sweep: Sweep) -> [String] {
        ["trial"] + sweep.keys + ["status", "seeds"] + resultColumns + [sweep.metric + "_sd"] + unstableColumns
    }

    /// Left out of `sweep.csv`, so that it has the same bytes however the sweep was split.
    /// `settings` is the fingerprint of the trial's resolved experiment (`RunSettings`), by which
    /// `--collect` knows a shard of an edited `set:` or base file.
    static let unstableColumns = ["train_seconds", "run_directory", "settings", "error"]

    /// What a shard's row holds that `row` never writes, or nil: a trial that ran has at least
    /// one seed, finite numbers (accuracies in [0, 1], a whole positive epochs_run) and no
    /// error; a failed one has its reason and no results.
    static func rowProblem(_ row: [String], statusColumn: Int) -> String? {
        let ok = row[statusColumn] == "ok"
        guard let seeds = Int(row[statusColumn + 1]), seeds >= (ok ? 1 : 0) else { return "has seeds = '\(row[statusColumn + 1])'" }
        let error = row[row.count - 1]
        if ok != error.isEmpty { return ok ? "is ok but has an error ('\(error.prefix(60))')" : "failed but gives no reason" }
        for (k, column) in (resultColumns + ["the metric's sd"]).enumerated() {
            let text = row[statusColumn + 2 + k]
            if text.isEmpty { continue }
            guard ok else { return "failed but has \(column) = '\(text)'" }
            guard let v = Double(text), v.isFinite else { return "has \(column) = '\(text)', not a finite number" }
            if column.hasSuffix("accuracy"), !(0...1).contains(v) { return "has \(column) = \(text), outside [0, 1]" }
            if column == "epochs_run", v < 1 || v != v.rounded() && seeds == 1 { return "has epochs_run = \(text)" }
            if k == resultColumns.count, v < 0 { return "has a negative standard deviation (\(text))" }
        }
        return nil
    }

    static func row(_ trial: Sweep.Trial, status: String, seeds: Int, results: [String: Double], spread: Double?, runDirectory: String,
                    settings: String, error: String) -> [String] {
        let values: [String] = resultColumns.map { key in
            guard let v = results[key] else { return "" }
            // epochs_run of one run (or of seeds that agree) stays a whole number, as in metrics.json.
            return key == "epochs_run" && v == v.rounded() ? String(Int(v)) : ResultFiles.number(v)
        }
        let seconds = results["train_seconds"].map { String(format: "%.3f", $0) } ?? ""
        return [trial.id] + trial.values.map(\.1) + [status, String(seeds)] + values + [spread.map(ResultFiles.number) ?? ""]
            + [seconds, runDirectory, settings, error]
    }

    static func shardName(_ shard: Shard, _ ext: String) -> String { "shard-\(shard.index)-of-\(shard.count).\(ext)" }

    /// `shard-<i>-of-<n>.<ext>` read back; nil for any other name.
    static func parseShardName(_ name: String) -> (shard: Shard, ext: String)? {
        guard name.hasPrefix("shard-"), let dot = name.lastIndex(of: ".") else { return nil }
        let parts = name[name.index(name.startIndex, offsetBy: 6)..<dot].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] == "of", let i = Int(parts[0]), let n = Int(parts[2]), n >= 1, i >= 0, i < n else { return nil }
        return (Shard(index: i, count: n), String(name[name.index(after: dot)...]))
    }

    static func checkNotRun(_ shardFile: URL) throws {
        guard !FileManager.default.fileExists(atPath: shardFile.path) else {
            throw HarnessError("\(shardFile.path) exists: this shard already ran; move it away to run it again (its trials then run again, into new run directories)")
        }
    }

    /// The sweep's directory holds one split: a shard file of another shard count, or a
    /// process running a shard of one, would make `--collect` refuse once every trial ran.
    static func checkOneSplit(_ dir: URL, shard: Shard) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        for name in names {
            guard let (other, ext) = parseShardName(name), other.count != shard.count else { continue }
            let how = shard.count == 1 ? "in one go" : "as \(shard.count) shards"
            if ext == "csv", other.count == 1 {
                throw HarnessError("\(dir.appendingPathComponent(name).path) holds the results of this sweep run in one go; move it away to run the sweep \(how)")
            }
            if ext == "csv" {
                throw HarnessError("\(dir.appendingPathComponent(name).path) holds results of this sweep split into \(other.count) shards; run its other shards (--shard i/\(other.count)), then --collect, or move the shard files away to run it \(how)")
            }
            if ext == "lock", ShardClaim.isHeld(dir.appendingPathComponent(name)) {
                throw HarnessError("shard \(other.index)/\(other.count) of this sweep is running in another process (it holds \(dir.appendingPathComponent(name).path)); one sweep runs as one split: use --shard i/\(other.count) or wait for it")
            }
        }
    }

    /// Writes a file that must never replace another: whole under a temporary name, then
    /// hard-linked to its name, which fails if the name exists (a rename would replace it).
    /// Where the file system has no hard links, the claim and the check before renaming keep
    /// the promise.
    static func writeNew(_ text: String, to url: URL) throws {
        let temporary = TemporaryFiles.path(beside: url)
        TemporaryFiles.create(temporary) {}  // an interruption from here on removes it
        defer {
            unlink(temporary)
            TemporaryFiles.unregister(temporary)
        }
        try ResultFiles.write(text, to: URL(fileURLWithPath: temporary))
        if link(temporary, url.path) == 0 { return }
        let problem = errno
        if problem == EEXIST { throw HarnessError("\(url.path) appeared while this shard ran; it is never replaced, so this shard's table was not written") }
        guard problem == EPERM || problem == EOPNOTSUPP || problem == EMLINK else {
            throw HarnessError("\(url.path): cannot be written (\(String(cString: strerror(problem))))")
        }
        try checkNotRun(url)
        guard rename(temporary, url.path) == 0 else {
            throw HarnessError("\(url.path): cannot be written (\(String(cString: strerror(errno))))")
        }
    }

    /// Merges the shard files of one shard count: every trial exactly once, with the values the
    /// sweep file gives it now, or an error naming the shard file and trial. Writes `sweep.csv`
    /// (trial values, status and results, sorted by the metric, best first, trials without a
    /// value last — the same bytes however the sweep was split), `sweep_runs.csv` (with run
    /// directories, times and why trials failed) and the chart; failed trials are listed in
    /// both and returned.
    @discardableResult
    public static func collect(_ sweep: Sweep, root: String? = nil, log: @escaping (String) -> Void) throws -> Outcome {
        // Each trial's experiment, read once, serves the metric check and its settings check.
        let experiments = try sweep.trials.map { try sweep.experiment(for: $0) }
        try sweep.checkMetric(experiments)
        let fingerprints = experiments.map { RunSettings.fingerprint(RunSettings.of($0, keepingSeed: true)) }
        let dir = directory(sweep, root: root)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let shardFiles = names.compactMap { name in parseShardName(name).flatMap { $0.ext == "csv" ? (name, $0.shard) : nil } }
            .sorted { $0.0 < $1.0 }
        let counts = Set(shardFiles.map(\.1.count))
        // Shards still training: a collect before they finish says so, rather than only "missing".
        let running = names.compactMap { name in
            parseShardName(name).flatMap { $0.ext == "lock" && ShardClaim.isHeld(dir.appendingPathComponent(name)) ? $0.shard : nil }
        }.sorted { $0.index < $1.index }
        let stillRunning = running.isEmpty ? ""
            : "; still running: shard " + running.map { "\($0.index)/\($0.count)" }.joined(separator: ", ") + " (collect once it has finished)"
        guard counts.count == 1, let n = counts.first else {
            throw HarnessError(shardFiles.isEmpty ? "\(dir.path) has no shard results yet (run `fashionbench sweep \(sweep.file)` first)\(stillRunning)"
                                                  : "\(dir.path) holds shards of different splits (\(counts.sorted().map(String.init).joined(separator: ", "))); keep one")
        }
        let expectedHeader = header(sweep)
        let statusColumn = 1 + sweep.keys.count
        let settingsColumn = expectedHeader.count - 2
        let trialsByID = Dictionary(uniqueKeysWithValues: sweep.trials.map { ($0.id, $0) })
        var byTrial: [String: [String]] = [:], shardOf: [String: String] = [:]
        for (name, shard) in shardFiles {
            let url = dir.appendingPathComponent(name)
            let reader: CSVReader
            do {
                reader = try CSVReader(string: try String(contentsOf: url, encoding: .utf8), hasHeaderRow: true)
            } catch {
                throw HarnessError("\(url.path) cannot be read as a shard's CSV (\(FileProblem.reason(error, path: url.path))); move it away and run that shard again")
            }
            guard reader.headerRow == expectedHeader else {
                let header = reader.headerRow ?? []
                let missing = expectedHeader.filter { !header.contains($0) }, extra = header.filter { !expectedHeader.contains($0) }
                let detail = (missing.isEmpty ? [] : ["lacks " + missing.joined(separator: ", ")]) + (extra.isEmpty ? [] : ["has " + extra.joined(separator: ", ")])
                throw HarnessError("\(url.path): its columns are not the ones this sweep's shards have (\(detail.isEmpty ? "another order" : detail.joined(separator: "; "))): written by another version of fashionbench or of the sweep's grid; move it away and run that shard again")
            }
            while let row = reader.next() {
                guard row.count == expectedHeader.count else { throw HarnessError("\(url.path): a row has \(row.count) fields") }
                // A shard of an earlier version of the sweep file (same name, other values)
                // must not be ranked as this one's.
                let stale = "the shard ran another version of \(sweep.file): move it away and run that shard again"
                guard let trial = trialsByID[row[0]] else {
                    throw HarnessError("\(url.path): \(row[0]) is not a trial of \(sweep.file), which has \(sweep.trials.count); \(stale)")
                }
                guard trial.index % n == shard.index else {
                    throw HarnessError("\(url.path): \(trial.id) belongs to shard \(trial.index % n)/\(n), not \(shard.index)/\(n); \(stale)")
                }
                for (k, (key, value)) in trial.values.enumerated() where row[1 + k] != value {
                    throw HarnessError("\(url.path): \(trial.id) ran with \(key) = \(row[1 + k]), but \(sweep.file):\(sweep.keyLines[key] ?? 1) now gives \(value); \(stale)")
                }
                // The values alone miss an edited `set:` or base file: the trial's whole settings must match.
                if row[settingsColumn] != fingerprints[trial.index] {
                    throw HarnessError("\(url.path): \(trial.id) ran with other settings than \(sweep.file) and its base \(sweep.base) give it now (an edited set:, base file or seed); \(stale)")
                }
                guard ["ok", "failed"].contains(row[statusColumn]) else {
                    throw HarnessError("\(url.path): \(trial.id) has status '\(row[statusColumn])', not ok or failed")
                }
                if let problem = rowProblem(row, statusColumn: statusColumn) {
                    throw HarnessError("\(url.path): \(trial.id) \(problem): an edited or damaged shard; move it away and run that shard again")
                }
                guard byTrial[row[0]] == nil else {
                    throw HarnessError("\(url.path): \(row[0]) appears \(shardOf[row[0]] == name ? "twice in it" : "in two shards (also in \(shardOf[row[0]]!))")")
                }
                shardOf[row[0]] = name
                byTrial[row[0]] = row
            }
        }
        let missing = sweep.trials.map(\.id).filter { byTrial[$0] == nil }
        guard missing.isEmpty else {
            throw HarnessError("\(missing.count) of \(sweep.trials.count) trials have no result yet (\(missing.prefix(5).joined(separator: ", "))\(missing.count > 5 ? ", …" : "")); run the missing shards of \(n)\(stillRunning)")
        }
        guard let metricColumn = expectedHeader.firstIndex(of: sweep.metric) else {
            throw HarnessError("the sweep's metric \(sweep.metric) has no column in \(expectedHeader.joined(separator: ","))")
        }
        // A trial without a value (failed, or a metric it does not produce) is never "best":
        // those go last, in trial order, and the rest by the metric, ties in trial order.
        func value(_ row: [String]) -> Double? {
            guard row[statusColumn] == "ok", let v = Double(row[metricColumn]), v.isFinite else { return nil }
            return v
        }
        let rows = sweep.trials.map { byTrial[$0.id]! }.enumerated().sorted { a, b in
            switch (value(a.element), value(b.element)) {
            case let (x?, y?) where x != y: return sweep.higherIsBetter ? x > y : x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.offset < b.offset
            }
        }.map(\.element)
        let stable = expectedHeader.count - unstableColumns.count
        try ResultFiles.write(ResultFiles.csv(header: Array(expectedHeader.prefix(stable)), rows: rows.map { Array($0.prefix(stable)) }),
                              to: dir.appendingPathComponent("sweep.csv"))
        try ResultFiles.write(ResultFiles.csv(header: expectedHeader, rows: rows), to: dir.appendingPathComponent("sweep_runs.csv"))
        let chartRows = rows.compactMap { r in
            value(r).map { (label: "\(r[0]): " + sweep.keys.enumerated().map { "\($0.element.split(separator: ".").last ?? "")=\(r[$0.offset + 1])" }.joined(separator: " "),
                            value: $0) }
        }
        if !chartRows.isEmpty, let warning = RunOutputs.sweepChart(chartRows, metric: sweep.metric, directory: dir) { log("warning: \(warning)") }
        let failed = rows.filter { $0[statusColumn] == "failed" }.map { "\(trialsByID[$0[0]]!.label): \($0[expectedHeader.count - 1])" }
        let seedsColumn = statusColumn + 1
        let best = value(rows[0]).map { _ in
            "best \(rows[0][0]) with \(sweep.metric) \(rows[0][metricColumn])" + (rows[0][seedsColumn] == "1" ? "" : " (mean of \(rows[0][seedsColumn]) seeds)")
        } ?? "no trial has a value of \(sweep.metric)"
        let failures = failed.isEmpty ? "" : " (\(failed.count) failed)"
        log("Sweep \(sweep.name): \(rows.count) trials\(failures); \(best); table in \(dir.path)/sweep.csv")
        return Outcome(directory: dir, failed: failed)
    }
}

/// A running shard's claim: an exclusive `flock` on `shard-<i>-of-<n>.lock`, held until the
/// shard's table is written. A second process running the same shard is refused before any
/// trial; the kernel drops the lock when the process ends, however it ends, so a crashed
/// shard blocks nobody (the empty file stays: removing it could let two processes lock two
/// different files of the same name).
final class ShardClaim {
    private var descriptor: Int32

    init(_ url: URL, shard: Shard) throws {
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw HarnessError("\(url.path): cannot be opened to claim shard \(shard.index)/\(shard.count) (\(String(cString: strerror(errno))))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let problem = errno
            close(descriptor)
            throw HarnessError(problem == EWOULDBLOCK
                ? "shard \(shard.index)/\(shard.count) of this sweep is running in another process (it holds \(url.path)); wait for it to finish"
                : "\(url.path): cannot be locked to claim shard \(shard.index)/\(shard.count) (\(String(cString: strerror(problem))))")
        }
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }

    /// Whether a process holds the claim of `url` now (a lock file left by a finished or
    /// crashed shard is not held).
    static func isHeld(_ url: URL) -> Bool {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }
}
