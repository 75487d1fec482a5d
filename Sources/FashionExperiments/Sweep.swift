import Foundation
import Yams
import FashionConfig
import FashionTensor

/// A sweep file: a base experiment, values fixed for every trial (`set`), and either a grid
/// (every combination, in file order, the last key varying fastest) or a seeded random sample
/// over any key paths.
///
/// ```yaml
/// name: model_2_optimizers
/// base: ../model_2.yaml          # relative to this file
/// metric: test_accuracy          # what the table is sorted by
/// set: {training.epochs: 3}
/// grid:
///   training.optimizer.name: [adam, rmsprop]
///   training.optimizer.learning_rate: [0.001, 0.0005, 0.0001]
/// # or
/// random:
///   trials: 8
///   seed: 1
///   space:
///     training.optimizer.learning_rate: {log_uniform: [0.0001, 0.01]}
///     model.layers[8].rate: {uniform: [0.2, 0.6]}
///     training.batch_size: {choice: [32, 64, 128]}
/// ```
public struct Sweep {
    public struct Trial: Sendable {
        public var index: Int
        /// (key path, YAML value) in the sweep's key order.
        public var values: [(String, String)]
        public var id: String { String(format: "trial-%03d", index) }
        /// The id with the trial's values, for messages: `trial-001 (training.optimizer.learning_rate = 1.0e+30)`.
        public var label: String {
            values.isEmpty ? id : "\(id) (" + values.map { "\($0.0) = \($0.1)" }.joined(separator: ", ") + ")"
        }
    }

    public static let metrics = ["test_accuracy", "test_loss", "best_val_accuracy", "best_val_loss", "final_val_accuracy", "final_val_loss",
                                 "test_reconstruction_mse"]

    public var file: String
    public var name: String
    public var base: String
    public var metric: String
    /// The line of `metric:` (the document's first line when the default is used), where a
    /// metric that some trial cannot produce is reported.
    public var metricLine: Int = 1
    public var fixed: [(String, Node)]
    public var keys: [String]
    public var trials: [Trial]
    public var outputDirectory: String
    /// The line of each key path of `set`, `grid` or `random.space` in the sweep file, for
    /// errors in the values it gives the base experiment.
    public var keyLines: [String: Int] = [:]

    /// Larger is better for accuracies, smaller for losses.
    public var higherIsBetter: Bool { metric.hasSuffix("accuracy") }

    public static func load(file: String) throws -> Sweep {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: file, line: 0, path: "", message: "cannot be read")
        }
        let o = try Options.document(yaml: text, file: file)
        let name = try o.string("name", default: URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent)
        // The name is a directory name: capped like an experiment's name, so a long one fails
        // here at its line instead of as an invalid file name once the sweep starts writing.
        if let problem = RunDirectory.nameProblem(name) { throw o.error("name", problem) }
        let baseRelative = try o.string("base")
        // From the sweep file's absolute path: Foundation's `standardized` drops the `..` of a
        // relative one (`sw/s.yaml` with `../tiny.yaml` gave `/tiny.yaml`).
        let base = baseRelative.hasPrefix("/") ? baseRelative
            : URL(fileURLWithPath: file).absoluteURL.deletingLastPathComponent().appendingPathComponent(baseRelative).standardized.path
        guard FileManager.default.fileExists(atPath: base) else {
            throw o.error("base", "names \(base), which does not exist")
        }
        // A directory (or FIFO, device) would only fail once a trial reads it, without this line.
        if let problem = FileKind.notRegular(base) {
            throw o.error("base", "names \(base), which \(problem)")
        }
        if URL(fileURLWithPath: base).resolvingSymlinksInPath().path == URL(fileURLWithPath: file).absoluteURL.resolvingSymlinksInPath().path {
            throw o.error("base", "names this sweep file itself; name the experiment file the trials change")
        }
        let metricLine = o.lineOf("metric")
        let metric = try o.choice("metric", metrics, default: "test_accuracy")
        let outputDirectory = try o.string("output_directory", default: "Results/sweeps")

        var fixed: [(String, Node)] = []
        var keyLines: [String: Int] = [:]
        if let set = o.raw("set") {
            guard case let .mapping(m) = set.node else { throw o.error("set", "must be a mapping of key paths to values") }
            for (k, v) in m {
                guard let key = k.string, NodePatch.components(key) != nil else {
                    throw o.error(atLine: k.mark?.line ?? set.line, path: "set", "has a key that is not a key path: \(Options.describe(k))")
                }
                let line = k.mark?.line ?? set.line
                if let problem = controlledKeyProblem(key, values: [v]) { throw o.error(atLine: line, path: "set.\(key)", problem) }
                fixed.append((key, v))
                keyLines[key] = line
            }
        }

        var keys: [String] = []
        var trials: [Trial] = []
        let grid = o.raw("grid"), random = try o.child("random")
        switch (grid, random) {
        case let (g?, nil):
            guard case let .mapping(m) = g.node, !m.isEmpty else { throw o.error("grid", "must map key paths to lists of values") }
            var axes: [(String, [Node])] = []
            for (k, v) in m {
                let line = k.mark?.line ?? g.line
                guard let key = k.string, NodePatch.components(key) != nil else {
                    throw o.error(atLine: line, path: "grid", "has a key that is not a key path: \(Options.describe(k))")
                }
                guard case let .sequence(values) = v, !values.isEmpty else {
                    throw o.error(atLine: line, path: "grid.\(key)", "must be a non-empty list of values")
                }
                if let problem = controlledKeyProblem(key, values: Array(values)) ?? setOverlapProblem(key, fixed: fixed, keyLines: keyLines) {
                    throw o.error(atLine: line, path: "grid.\(key)", problem)
                }
                axes.append((key, Array(values)))
                keyLines[key] = line
            }
            keys = axes.map(\.0)
            // Stops multiplying past the limit: a long grid's product would overflow Int.
            let total = axes.reduce(1) { min($0 * $1.1.count, 10_001) }
            guard total <= 10_000 else {
                throw o.error("grid", "expands to more than 10,000 trials (\(axes.map { String($0.1.count) }.joined(separator: " × "))); at most 10,000")
            }
            for t in 0..<total {
                var rest = t, values: [(String, String)] = []
                for (key, options) in axes.reversed() {
                    values.append((key, try render(options[rest % options.count])))
                    rest /= options.count
                }
                trials.append(Trial(index: t, values: values.reversed()))
            }
        case let (nil, r?):
            let count = try r.positiveInt("trials", max: 10_000)
            let seed = UInt64(try r.int("seed", default: 0, min: 0))
            guard let space = r.raw("space"), case let .mapping(m) = space.node, !m.isEmpty else {
                throw r.missing("space", "is required: key paths mapped to {uniform: [lo, hi]}, {log_uniform: [lo, hi]}, {int_uniform: [lo, hi]} or {choice: [values]}")
            }
            var axes: [(String, Distribution)] = []
            for (k, v) in m {
                let line = k.mark?.line ?? space.line
                guard let key = k.string, NodePatch.components(key) != nil else {
                    throw r.error(atLine: line, path: "random.space", "has a key that is not a key path: \(Options.describe(k))")
                }
                let distribution = try Distribution(v, options: r, line: line, path: "random.space.\(key)")
                var choices: [Node] = []
                if case let .choice(values) = distribution { choices = values }
                if let problem = controlledKeyProblem(key, values: choices) ?? setOverlapProblem(key, fixed: fixed, keyLines: keyLines) {
                    throw r.error(atLine: line, path: "random.space.\(key)", problem)
                }
                axes.append((key, distribution))
                keyLines[key] = line
            }
            try r.finish()
            keys = axes.map(\.0)
            var g = SeededGenerator(seed: seed, stream: "sweep")
            for t in 0..<count {
                trials.append(Trial(index: t, values: try axes.map { ($0.0, try render($0.1.draw(&g))) }))
            }
        default:
            throw o.error("needs exactly one of `grid:` and `random:`")
        }
        try o.finish()
        return Sweep(file: file, name: name, base: base, metric: metric, metricLine: metricLine, fixed: fixed, keys: keys, trials: trials,
                     outputDirectory: outputDirectory, keyLines: keyLines)
    }

    /// Why a key path of `set`, `grid` or `random.space` would have no effect, or nil: every
    /// trial is named by its id and runs under the sweep's directory, whatever the key says.
    static func controlledKeyProblem(_ key: String, values: [Node]) -> String? {
        guard let path = NodePatch.components(key), case let .key(first) = path[0] else { return nil }
        let directoryHint = "runs go under the sweep's output_directory/<name>/trials/ (set output_directory in the sweep file)"
        if first == "name" {
            return "is set by the sweep: every trial is named by its id (trial-000, …); use description to label trials"
        }
        if first == "output", path.count >= 2, path[1] == .key("directory") {
            return "is set by the sweep: \(directoryHint)"
        }
        if first == "output", path.count == 1, values.contains(where: { $0.mapping?.contains { $0.key.string == "directory" } ?? false }) {
            return "gives output.directory, which the sweep sets: \(directoryHint)"
        }
        return nil
    }

    /// Why a grid or random key clashes with `set:`, or nil: the trial's value is applied after
    /// `set:`, so a `set:` value at or below the same key would be replaced without a word.
    static func setOverlapProblem(_ key: String, fixed: [(String, Node)], keyLines: [String: Int]) -> String? {
        guard let path = NodePatch.components(key) else { return nil }
        for (setKey, _) in fixed {
            guard let setPath = NodePatch.components(setKey), setPath.count >= path.count, Array(setPath.prefix(path.count)) == path else { continue }
            let line = keyLines[setKey].map { " (line \($0))" } ?? ""
            return setKey == key ? "is also given in set:\(line); give it in one place"
                                 : "replaces set:'s \(setKey)\(line) in every trial; give it in one place"
        }
        return nil
    }

    /// Why trial `e` cannot produce `metric`, or nil: accuracies need a classifier, the
    /// reconstruction error an autoencoder, `*_val_*` a validation set.
    static func metricProblem(_ metric: String, _ e: Experiment) -> String? {
        let reconstructs = e.training.targets == "inputs"
        if metric.hasSuffix("accuracy"), reconstructs { return "reconstructs its input (training.targets: inputs), which has no accuracy" }
        if metric == "test_reconstruction_mse", !reconstructs { return "is a classifier, which has no reconstruction MSE" }
        if metric.contains("val_"), e.data.validation == .none { return "has no validation set (data.validation: none)" }
        return nil
    }

    /// Throws, at the `metric:` line, unless every trial (of every shard: the metric ranks the
    /// whole sweep) produces the metric; reads each trial's experiment, no data.
    public func checkMetric(overrides: Overrides = Overrides()) throws {
        try checkMetric(trials.map { try experiment(for: $0, overrides: overrides) })
    }

    /// `checkMetric` on the trials' experiments already read (`experiments[i]` of `trials[i]`).
    public func checkMetric(_ experiments: [Experiment]) throws {
        for (trial, e) in zip(trials, experiments) {
            guard let problem = Sweep.metricProblem(metric, e) else { continue }
            let usable = Sweep.metrics.filter { Sweep.metricProblem($0, e) == nil }
            throw ConfigError(file: file, line: metricLine, path: "metric",
                              message: "is \(metric), but \(trial.label) \(problem); that trial has \(usable.joined(separator: ", "))")
        }
    }

    /// The trials shard `index` of `count` runs: every count-th trial starting at `index`.
    public func trials(shard index: Int, of count: Int) -> [Trial] {
        trials.filter { $0.index % count == index }
    }

    /// The experiment of one trial: the base file with `set` and the trial's values applied.
    public func experiment(for trial: Trial, overrides: Overrides = Overrides()) throws -> Experiment {
        let patches = try fixed + trial.values.map { ($0.0, try Sweep.parseValue($0.1)) } + [("name", Node(trial.id))]
        let origins: [String?] = fixed.map { "\(file):\(keyLines[$0.0] ?? 1) (set)" }
            + trial.values.map { "\(file):\(keyLines[$0.0] ?? 1) (\(trial.id), \($0.0) = \($0.1))" } + [nil]
        return try Experiment.load(file: base, overrides: overrides, patches: patches, patchOrigins: origins)
    }

    static func render(_ node: Node) throws -> String {
        let text = try Yams.serialize(node: node).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasPrefix("--- ") ? String(text.dropFirst(4)) : text
    }

    static func parseValue(_ text: String) throws -> Node {
        try Yams.compose(yaml: text) ?? Node("", Tag(.null))
    }

    enum Distribution {
        case uniform(Double, Double), logUniform(Double, Double), intUniform(Int, Int), choice([Node])

        init(_ node: Node, options o: Options, line: Int, path: String) throws {
            let usage = "must be {uniform: [lo, hi]}, {log_uniform: [lo, hi]}, {int_uniform: [lo, hi]} or {choice: [values]}"
            guard case let .mapping(m) = node, m.count == 1, let (k, v) = m.first, let kind = k.string,
                  case let .sequence(args) = v, !args.isEmpty else {
                throw o.error(atLine: line, path: path, usage)
            }
            let numbers = args.compactMap(Options.number)
            // Bounds like .inf, or [-1e308, 1e308] whose width overflows, would give every draw
            // an infinite or NaN value: refuse them here rather than in each trial.
            if kind == "uniform" || kind == "log_uniform", numbers.count == 2, !(numbers.allSatisfy(\.isFinite) && (numbers[1] - numbers[0]).isFinite) {
                throw o.error(atLine: line, path: path, "needs finite bounds whose difference is finite too, got [\(numbers.map(Options.format).joined(separator: ", "))]")
            }
            if kind == "int_uniform", args.count == 2, let lo = args[0].int, let hi = args[1].int,
               hi.subtractingReportingOverflow(lo).overflow || (hi - lo).addingReportingOverflow(1).overflow {
                throw o.error(atLine: line, path: path, "spans more integers than can be counted: [\(lo), \(hi)]")
            }
            switch kind {
            case "uniform" where numbers.count == 2 && args.count == 2 && numbers[0] < numbers[1]:
                self = .uniform(numbers[0], numbers[1])
            case "log_uniform" where numbers.count == 2 && args.count == 2 && numbers[0] > 0 && numbers[0] < numbers[1]:
                self = .logUniform(numbers[0], numbers[1])
            case "int_uniform" where args.count == 2 && args.allSatisfy({ $0.tagName == .int }) && args[0].int! <= args[1].int!:
                self = .intUniform(args[0].int!, args[1].int!)
            case "choice":
                self = .choice(Array(args))
            default:
                throw o.error(atLine: line, path: path, "\(usage) with lo < hi (lo > 0 for log_uniform)")
            }
        }

        func draw(_ g: inout SeededGenerator) -> Node {
            switch self {
            case let .uniform(lo, hi): return Node(String(lo + (hi - lo) * g.nextUnitDouble()), Tag(.float))
            case let .logUniform(lo, hi): return Node(String(exp(log(lo) + (log(hi) - log(lo)) * g.nextUnitDouble())), Tag(.float))
            case let .intUniform(lo, hi): return Node(String(lo + g.nextInt(below: hi - lo + 1)), Tag(.int))
            case let .choice(values): return values[g.nextInt(below: values.count)]
            }
        }
    }
}

/// `--shard i/n` (0 ≤ i < n), or Slurm's job-array variables when the option is absent.
public struct Shard: Equatable, Sendable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    public static func parse(_ text: String) -> Shard? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, i >= 0, i < n else { return nil }
        return Shard(index: i, count: n)
    }

    /// SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT, counting from SLURM_ARRAY_TASK_MIN
    /// (Slurm arrays may start at 0 or 1); nil outside an array job. Variables that give no
    /// shard (not numbers, or an id outside MIN…MIN+COUNT−1, as `--array=1,3,5` gives) are an
    /// error: running every trial in every task would repeat the sweep COUNT times.
    public static func fromSlurm(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Shard? {
        guard let idText = env["SLURM_ARRAY_TASK_ID"] else { return nil }
        let fix = "submit the array as a range starting at 0 or 1 without steps (--array=0-N) or pass --shard i/n"
        func number(_ name: String, _ text: String?) throws -> Int {
            guard let text, let n = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw HarnessError("\(name) is \(text.map { "'\($0)'" } ?? "not set") in a Slurm array task, not a whole number; \(fix)")
            }
            return n
        }
        let id = try number("SLURM_ARRAY_TASK_ID", idText), count = try number("SLURM_ARRAY_TASK_COUNT", env["SLURM_ARRAY_TASK_COUNT"])
        let first = try env["SLURM_ARRAY_TASK_MIN"].map { try number("SLURM_ARRAY_TASK_MIN", $0) } ?? 0
        let index = id - first
        guard count >= 1, index >= 0, index < count else {
            throw HarnessError("SLURM_ARRAY_TASK_ID \(id) is not one of \(first)…\(first + count - 1) (SLURM_ARRAY_TASK_MIN \(first), SLURM_ARRAY_TASK_COUNT \(count)); \(fix)")
        }
        return Shard(index: index, count: count)
    }
}
