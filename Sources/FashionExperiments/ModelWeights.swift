import Foundation
import FashionConfig
import FashionNN
import FashionReports

/// A model's weights in HDF5, one dataset per parameter named `<layer>/<parameter>`
/// (`conv2d/kernel`, `dense_1/bias`, `batch_normalization/moving_mean`), as Keras names them,
/// in Keras' shapes (a Conv2D kernel is kh x kw x in x filters) under HDF5's checksum.
public enum ModelWeights {
    public static func save(_ model: Sequential, to url: URL, attributes: [String: String] = [:]) throws {
        let h5 = try HDF5Writer(path: url.path)
        do {
            for layer in model.layers {
                for p in layer.parameters {
                    try h5.write("\(layer.name)/\(p.name)", floats: p.value.array, shape: p.shape, checksummed: true)
                    try h5.setAttribute("shape", string: p.shape.map(String.init).joined(separator: ","), on: "\(layer.name)/\(p.name)")
                }
            }
            for (k, v) in attributes { try h5.setAttribute(k, string: v) }
            try h5.close()
        } catch {
            h5.discard()
            throw error
        }
    }

    /// Loads every parameter by name. A missing one, another shape, values that are not
    /// floating point or not finite, or a failed checksum is an error naming the dataset.
    /// A flat dataset of the right size is taken as the parameter in row-major order (files
    /// written before 2026-11-30, and arrays saved with numpy's `ravel()`).
    public static func load(_ model: Sequential, from url: URL) throws {
        let h5 = try HDF5Reader(path: url.path)
        defer { h5.close() }
        let names = Set(try h5.datasetNames())
        var values: [(Parameter, [Float])] = []
        for layer in model.layers {
            for p in layer.parameters {
                let name = "\(layer.name)/\(p.name)"
                guard names.contains(name) else {
                    throw HarnessError("\(url.path) has no \(name); it holds the weights of another model")
                }
                let shape = try h5.shape(name)
                guard shape == p.shape || shape == [p.count] else {
                    let count = shape.reduce(1, *)
                    throw HarnessError("\(url.path): \(name) has shape \(shape) (\(count) values), this model's is \(p.shape) (\(p.count) values)")
                }
                let type = try h5.elementType(name)
                guard type.kind == .floatingPoint else {
                    throw HarnessError("\(url.path): \(name) holds \(type.kind.rawValue), not floating-point weights")
                }
                let v: [Float]
                do {
                    if type.bytes > 4 {
                        // Wider than float32: a value float32 cannot hold must not become 0 or ∞ unnoticed.
                        let wide = try h5.readDoubles(name)
                        if let bad = wide.firstIndex(where: { $0.isFinite && $0 != 0 && (Float($0) == 0 || !Float($0).isFinite) }) {
                            throw HarnessError("\(url.path): \(name) holds \(wide[bad]) at element \(bad) of \(wide.count), which float32 cannot hold (it would become \(Float(wide[bad])))")
                        }
                        v = wide.map { Float($0) }
                    } else {
                        v = try h5.readFloats(name)
                    }
                } catch let e as HarnessError {
                    throw e
                } catch {
                    throw HarnessError("\(url.path) is damaged: \(error)")
                }
                if let bad = v.firstIndex(where: { !$0.isFinite }) {
                    throw HarnessError("\(url.path): \(name) holds \(v[bad]) at element \(bad) of \(v.count); weights must be finite (is the file damaged?)")
                }
                values.append((p, v))
            }
        }
        // Weights of layers this model lacks mean the file is another model's (Keras refuses too).
        let expected = Set(model.layers.flatMap { layer in layer.parameters.map { "\(layer.name)/\($0.name)" } })
        if let extra = names.subtracting(expected).sorted().first {
            throw HarnessError("\(url.path) holds \(extra), which this model (\(model.layers.count) layers) does not have; it holds the weights of another model")
        }
        for (p, v) in values { v.withUnsafeBufferPointer { p.value.pointer.update(from: $0.baseAddress!, count: v.count) } }
    }

    /// `init_from:` — a weights file, a run directory, or an experiment name whose newest
    /// complete run (metrics.json and weights.h5) under `resultsRoot` is used. `from`: the
    /// experiment that asks (its name and file), for advice on what to run first.
    public static func resolve(_ reference: String, resultsRoot: String, from asking: (name: String, file: String)? = nil) throws -> URL {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        // A bare name is an experiment's, whatever the current directory holds ("./name" for a path).
        let isPath = reference.contains("/") || reference.hasSuffix(".h5")
        if isPath, fm.fileExists(atPath: reference, isDirectory: &isDir) {
            let url = URL(fileURLWithPath: reference)
            if !isDir.boolValue { return url }
            try FinishedRun.check(reference, use: "its weights.h5 (name the file itself to start from it anyway)")
            let weights = url.appendingPathComponent("weights.h5")
            guard fm.fileExists(atPath: weights.path) else { throw HarnessError("\(reference) has no weights.h5") }
            return weights
        }
        if isPath {
            throw HarnessError("\(reference) does not exist (init_from takes a weights file, a run directory or an experiment name such as model_2)")
        }
        let dir = URL(fileURLWithPath: resultsRoot).appendingPathComponent(reference, isDirectory: true)
        let runs = RunDirectory.newestFirst((try? fm.contentsOfDirectory(atPath: dir.path)) ?? [])
        for run in runs {
            let d = dir.appendingPathComponent(run)
            if FinishedRun.isFinished(d.path), fm.fileExists(atPath: d.appendingPathComponent("weights.h5").path) {
                return d.appendingPathComponent("weights.h5")
            }
            // The newest results are a group of repeats: one run of several seeds is not "the"
            // run to start from, and skipping to an older one would hide the newer results.
            let finished = FinishedRun.seedRuns(of: d.path).filter { FinishedRun.isFinished(d.appendingPathComponent($0).path) }
            if let first = finished.first {
                throw HarnessError("the newest results of \(reference) are a group of repeats with \(finished.count) finished runs (\(d.path)), not one run; "
                                   + "name one of its runs, e.g. init_from: \(d.appendingPathComponent(first).appendingPathComponent("weights.h5").path)")
            }
        }
        let here = fm.fileExists(atPath: reference) ? " (for the \(reference) in the current directory, write ./\(reference))" : ""
        if let asking, asking.name == reference {
            throw HarnessError("init_from names this experiment itself (\(reference)), and no finished run of it with weights is under \(dir.path); "
                               + "name another experiment, a run directory or a weights file\(here)")
        }
        // The experiment file to run: beside the asking one when it is there.
        let beside = asking.map { (($0.file as NSString).deletingLastPathComponent as NSString).appendingPathComponent("\(reference).yaml") }
        let file = beside.flatMap { fm.fileExists(atPath: $0) ? $0 : nil } ?? "Experiments/\(reference).yaml"
        throw HarnessError("no finished run of \(reference) with weights under \(dir.path): run its experiment first (e.g. `fashionbench run \(file)`, with the same --results if any)\(here)")
    }
}

/// A run directory whose training ended and whose results were all written: metrics.json
/// (written last) and no failed.txt (written when a run fails or is interrupted).
public enum FinishedRun {
    public static func isFinished(_ directory: String) -> Bool {
        let fm = FileManager.default
        return hasMetricsObject(directory) && !fm.fileExists(atPath: (directory as NSString).appendingPathComponent("failed.txt"))
    }

    /// A repeats group's run directories (`seed-<s>`), in the order of their seeds.
    static func seedRuns(of group: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: group)) ?? []).filter { $0.hasPrefix("seed-") }
            .sorted { (Int($0.dropFirst(5)) ?? .max, $0) < (Int($1.dropFirst(5)) ?? .max, $1) }
    }

    /// metrics.json is a regular file holding a JSON object (an empty or cut file is no mark of completion).
    static func hasMetricsObject(_ directory: String) -> Bool { metrics(directory) != nil }

    /// The run's metrics.json as a JSON object, nil if it is missing, not a regular file or damaged.
    static func metrics(_ directory: String) -> [String: Any]? {
        let path = (directory as NSString).appendingPathComponent("metrics.json")
        guard FileKind.notRegular(path) == nil, let data = FileManager.default.contents(atPath: path) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// Throws, saying why, unless `directory` is a finished run; `use` names what was wanted from it.
    public static func check(_ directory: String, use: String) throws {
        let fm = FileManager.default
        let failed = (directory as NSString).appendingPathComponent("failed.txt")
        if fm.fileExists(atPath: failed) {
            let why = ((try? String(contentsOfFile: failed, encoding: .utf8)) ?? "").split(separator: "\n").first.map(String.init) ?? ""
            throw HarnessError("\(directory) is a run that did not finish (failed.txt\(why.isEmpty ? "" : ": " + why)); not using \(use)")
        }
        guard fm.fileExists(atPath: (directory as NSString).appendingPathComponent("metrics.json")) else {
            // A group of repeats holds its runs one level down.
            let seeds = seedRuns(of: directory)
            if let first = seeds.first {
                throw HarnessError("\(directory) is a group of \(seeds.count) repeats, not one run; name one of them, e.g. \((directory as NSString).appendingPathComponent(first))")
            }
            throw HarnessError("\(directory) is not a finished run directory (no metrics.json); not using \(use)")
        }
        guard hasMetricsObject(directory) else {
            throw HarnessError("\(directory)/metrics.json is not a JSON object (empty or damaged); not using \(use)")
        }
    }
}
