import Foundation
import Yams
import FashionConfig
import FashionData
import FashionNN
import FashionTensor

/// Command-line values that replace the file's (and are written into the resolved experiment).
public struct Overrides: Sendable {
    public var epochs: Int?
    public var seed: UInt64?
    public var limit: Int?
    public var threads: Int?
    public var repeats: Int?
    /// `run --results`: output.directory, under which init_from's experiment names are found too.
    public var results: String?
    public init(epochs: Int? = nil, seed: UInt64? = nil, limit: Int? = nil, threads: Int? = nil, repeats: Int? = nil, results: String? = nil) {
        self.epochs = epochs
        self.seed = seed
        self.limit = limit
        self.threads = threads
        self.repeats = repeats
        self.results = results
    }
}

extension Experiment {
    /// Reads and checks an experiment file. Errors are `ConfigError`s: file, line, key path.
    public static func load(file: String, overrides: Overrides = Overrides(), patches: [(String, Node)] = [],
                            patchOrigins: [String?] = []) throws -> Experiment {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: file))
            guard data.count <= 1_000_000 else {
                throw ConfigError(file: file, line: 1, path: "", message: "is \(data.count) bytes; an experiment file is at most 1 MB")
            }
            guard let s = String(data: data, encoding: .utf8) else {
                throw ConfigError(file: file, line: 1, path: "", message: "is not UTF-8 text")
            }
            text = s
        } catch let e as ConfigError {
            throw e
        } catch {
            throw ConfigError(file: file, line: 0, path: "", message: "cannot be read: \(Experiment.reason(error, path: file))")
        }
        return try parse(yaml: text, file: file, overrides: overrides, patches: patches, patchOrigins: patchOrigins)
    }

    /// `patches` set key paths (a sweep's trial values, `--set`) before the file is read. A
    /// mistake at or below a patched key is reported where the value was written,
    /// `patchOrigins[i]` for patch i (nil: in the file itself).
    public static func parse(yaml: String, file: String, overrides: Overrides = Overrides(), patches: [(String, Node)] = [],
                             patchOrigins: [String?] = []) throws -> Experiment {
        do {
            return try parsePatched(yaml: yaml, file: file, overrides: overrides, patches: patches, patchOrigins: patchOrigins)
        } catch let e as ConfigError {
            let source = ExperimentSource(yaml: yaml, overrides: overrides, patches: patches, patchOrigins: patchOrigins)
            throw ExperimentSource.attribute(e, patches: patches, origins: patchOrigins, yaml: yaml) { kept in
                let (p, o) = source.keeping(kept)
                do {
                    _ = try parsePatched(yaml: yaml, file: file, overrides: overrides, patches: p, patchOrigins: o)
                    return false
                } catch let x as ConfigError {
                    return x.path == e.path ? true : nil
                } catch {
                    return nil
                }
            }
        }
    }

    private static func parsePatched(yaml: String, file: String, overrides: Overrides, patches: [(String, Node)],
                                     patchOrigins: [String?]) throws -> Experiment {
        var node = try Options.compose(yaml: yaml, file: file)
        for (path, value) in patches {
            do { node = try NodePatch.set(node, path: path, to: value) } catch let e as PatchError {
                throw ConfigError(file: file, line: 1, path: e.path, message: e.message)
            }
        }
        let root = try Options(file: file, path: "", node: node)
        let defaultName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let named = root.has("name")
        let name = try root.string("name", default: defaultName)
        // Without a `name:` key the file's name is the experiment's, and the mistake is there.
        let fromFileName = named ? "" : " (the experiment's name comes from the file's name when it has no `name:` key; add one)"
        if let problem = RunDirectory.nameProblem(name) { throw root.error("name", problem + fromFileName) }
        guard !ResultsIndex.reservedNames.contains(name) else {
            throw root.error("name", "\"\(name)\" is reserved: the results directory keeps sweeps/, comparisons/ and the index (index.csv, index.md, index.html) under these names" + fromFileName)
        }
        let description = try root.string("description", default: "")
        var seed = UInt64(try root.int("seed", default: 0, min: 0))
        if let s = overrides.seed { seed = s; root.record("seed", Node(String(s), Tag(.int))) }
        var repeats = try root.int("repeats", default: 1, min: 1, max: 1000)
        if let r = overrides.repeats { repeats = r; root.record("repeats", Node(String(r), Tag(.int))) }
        // Seeds are recorded as 64-bit signed integers (metrics.json, history.h5), and repeats
        // use seed, seed+1, …: the last one must still fit.
        if seed > UInt64(Int.max) - UInt64(repeats - 1) {
            throw ConfigError(file: file, line: root.lineOf("seed"), path: "seed",
                              message: "must be at most \(UInt64(Int.max) - UInt64(repeats - 1))\(repeats > 1 ? " with \(repeats) repeats (seeds seed…seed+\(repeats - 1))" : ""), got \(seed)",
                              origin: overrides.seed.map { "--seed \($0)" })
        }

        let data = try parseData(try root.child("data") ?? Options(file: file, path: "data", node: .mapping([:])), overrides: overrides)
        guard let modelOptions = try root.child("model") else { throw root.missing("model", "is required: the model's layers") }
        let model = try parseModel(modelOptions)
        let training = try parseTraining(try root.child("training") ?? Options(file: file, path: "training", node: .mapping([:])), overrides: overrides)

        let evaluation = try root.child("evaluation") ?? Options(file: file, path: "evaluation", node: .mapping([:]))
        let evaluationBatch = try evaluation.positiveInt("batch_size", default: max(training.spec.batchSize, 256), max: 1 << 16)
        try evaluation.finish()

        let output = try root.child("output") ?? Options(file: file, path: "output", node: .mapping([:]))
        var directory = try output.string("directory", default: "Results")
        guard !directory.isEmpty else { throw output.error("directory", "must not be empty") }
        if let r = overrides.results {
            guard !r.isEmpty else { throw ConfigError(file: file, line: 1, path: "output.directory", message: "must not be empty", origin: "--results ''") }
            directory = r
            output.record("directory", Node(r))
        }
        let formats = try parseFormats(output)
        let charts = try output.bool("charts", default: true)
        let confidence = try output.double("confidence", default: 0.95, min: 0, max: 1, minExclusive: true, maxExclusive: true)
        try output.finish()

        let reference = try parseReference(try root.child("reference"))
        try root.finish(allowed: ["name", "description", "seed", "repeats", "data", "model", "training", "evaluation", "output", "reference"])

        for (key, child) in [("data", data.options), ("model", modelOptions), ("training", training.options), ("evaluation", evaluation), ("output", output)] {
            root.record(key, child.resolvedNode)
        }
        if let reference { root.record("reference", reference.resolvedNode) }
        let ordered = ["name", "description", "seed", "repeats", "data", "model", "training", "evaluation", "output", "reference"]
        let resolvedNode = Node.mapping(Node.Mapping(ordered.compactMap { key in
            root.resolved.first { $0.0 == key }.map { (Node($0.0), $0.1) }
        }))
        let resolvedText = (try? Yams.serialize(node: resolvedNode, allowUnicode: true, sortKeys: false)) ?? ""

        return Experiment(file: file, name: name, description: description, seed: seed, data: data.spec, model: model,
                          training: training.spec, evaluationBatchSize: evaluationBatch,
                          output: OutputSpec(directory: directory, formats: formats, charts: charts, confidence: confidence),
                          repeats: repeats,
                          reference: reference?.resolved ?? [],
                          lines: ["data": root.lineOf("data"), "data.validation": data.options.lineOf("validation"),
                                  "data.test_fraction": data.options.lineOf("test_fraction"), "data.path": data.options.lineOf("path"),
                                  "data.augmentation": data.options.lineOf("augmentation"),
                                  "training": training.options.line, "training.threads": training.options.lineOf("threads"),
                                  "training.targets": training.options.lineOf("targets"), "training.loss": training.options.lineOf("loss"),
                                  "training.init_from": training.options.lineOf("init_from"),
                                  "training.parallelism": training.options.lineOf("parallelism"),
                                  "model.input_shape": modelOptions.lineOf("input_shape")],
                          resolvedYAML: resolvedText, source: ExperimentSource(yaml: yaml, overrides: overrides, patches: patches,
                                                                   patchOrigins: patchOrigins))
    }

    // MARK: - Sections

    static func parseData(_ o: Options, overrides: Overrides) throws -> (spec: DataSpec, options: Options) {
        let dataset = try o.choice("dataset", ["fashion_mnist", "fashion_products"], default: "fashion_mnist")
        let path = try o.optionalString("path")
        if path?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            throw o.error("path", "is empty: name the data directory, or remove the line for the default")
        }
        let validation: ValidationSplit
        if let raw = o.raw("validation") {
            validation = try parseValidation(raw.node, line: raw.line, path: raw.path, options: o)
            o.record("validation", raw.node)
        } else {
            validation = .none
            o.record("validation", Node("none"))
        }
        // Pixels are scaled in float32: 255 · rescale must stay finite there, and rescale nonzero.
        let rescale = try o.float32Double("rescale", default: 1.0 / 255.0, min: 0, max: Double(Float.greatestFiniteMagnitude) / 255, minExclusive: true)
        let products = dataset == "fashion_products" ? try parseProducts(o) : nil
        let verify = products == nil ? try o.bool("verify_checksums", default: true) : false
        var limit = try o.optionalInt("limit", min: 1)
        if let l = overrides.limit { limit = l; o.record("limit", Node(String(l), Tag(.int))) }
        let testLimit = try o.optionalInt("test_limit", min: 1)
        var classes: [Int]?
        if products == nil, o.has("classes") {
            let list = try o.intList("classes", count: 2...1000, min: 0, max: 9)
            guard Set(list).count == list.count else { throw o.error("classes", "lists a class twice: \(list)") }
            classes = list
        }
        var classNames: [String]?
        if products == nil, let raw = o.raw("class_names") {
            guard classes != nil else { throw o.error("class_names", "needs data.classes (the classes it renames)") }
            guard case let .sequence(seq) = raw.node, seq.count == classes!.count,
                  let names = Optional(seq.compactMap { $0.tagName == .str ? $0.string : nil }), names.count == seq.count,
                  names.allSatisfy({ !$0.isEmpty }) else {
                throw o.error("class_names", "must be a list of \(classes!.count) non-empty names, one per entry of data.classes")
            }
            // Predictions, confusion matrices and reports name classes; two of one name would be one.
            guard Set(names).count == names.count else { throw o.error("class_names", "names a class twice: \(names)") }
            classNames = names
            o.record("class_names", raw.node)
        }
        var augmentation: AugmentationSettings?
        if let a = try o.child("augmentation") {
            augmentation = try parseAugmentation(a)
            if let cval = augmentation?.cval, !(cval * Float(rescale)).isFinite {
                throw a.error(atLine: a.lineOf("cval"), path: Options.join(a.path, "cval"),
                              "is \(cval), which times rescale \(Options.format(rescale)) is not finite in float32 (pixels are scaled after the fill)")
            }
            o.record("augmentation", a.resolvedNode)
        }
        try o.finish()
        return (DataSpec(dataset: dataset, path: path, validation: validation, rescale: rescale, verifyChecksums: verify,
                         limit: limit, testLimit: testLimit, classes: classes, classNames: classNames,
                         augmentation: augmentation, products: products), o)
    }

    /// The keys of `dataset: fashion_products`.
    static func parseProducts(_ o: Options) throws -> ProductDataSpec {
        var settings = ProductImageSettings()
        settings.labelColumn = try o.string("label", default: "subCategory")
        guard !settings.labelColumn.isEmpty else { throw o.error("label", "must name a column of styles.csv (subCategory, articleType, masterCategory, …)") }
        let top = try o.optionalInt("top_classes", min: 2, max: 10_000)
        if let raw = o.raw("classes") {
            guard top == nil else { throw o.error(atLine: raw.line, path: raw.path, "cannot be combined with top_classes: choose one") }
            settings.classes = .rules(try parseProductClasses(raw.node, line: raw.line, path: raw.path, label: settings.labelColumn, options: o))
            o.record("classes", raw.node)
        } else if let top {
            settings.classes = .top(top)
        }
        settings.minCount = try o.int("min_count", default: 1, min: 1)
        let size = try o.intPair("image_size", default: (80, 60), min: 1, max: 1024)
        (settings.height, settings.width) = size
        settings.interpolation = Interpolation(rawValue: try o.choice("interpolation", Interpolation.allCases.map(\.rawValue), default: "nearest"))!
        let testFraction = try o.double("test_fraction", default: 0.2, min: 0, max: 1, minExclusive: true, maxExclusive: true)
        var lines: [String: Int] = [:]
        var balance: Balance?
        if let b = try o.child("balance") {
            lines["balance.per_class"] = b.lineOf("per_class")
            let method = try b.choice("method", ["undersample", "oversample"])
            let perClass = try b.optionalInt("per_class", min: 1, max: 10_000_000)
            try b.finish()
            balance = method == "undersample" ? .undersample(perClass: perClass) : .oversample(perClass: perClass)
            o.record("balance", b.resolvedNode)
        }
        let cache = try o.bool("cache", default: true)
        for key in ["label", "classes", "top_classes", "min_count", "image_size", "balance"] where o.has(key) { lines[key] = o.lineOf(key) }
        if let raw = o.raw("classes"), case let .sequence(entries) = raw.node {
            for (i, entry) in entries.enumerated() {
                lines["classes[\(i)]"] = entry.mark?.line ?? raw.line
                if case .mapping = entry, let r = try? Options(file: o.file, path: "\(raw.path)[\(i)]", node: entry) {
                    lines["classes[\(i)].column"] = r.lineOf("column")
                }
            }
        }
        return ProductDataSpec(settings: settings, testFraction: testFraction, balance: balance, cache: cache, lines: lines)
    }

    /// `classes:` of a product-image set: each entry a value of the label column, or
    /// `{name: N, values: V or [V, …], column: C}` (column defaults to the label column).
    static func parseProductClasses(_ node: Node, line: Int, path: String, label: String, options o: Options) throws -> [ProductClassRule] {
        let wrong = "must be a list of class values of the label column, or of {name, values, column} mappings"
        guard case let .sequence(seq) = node, !seq.isEmpty else { throw o.error(atLine: line, path: path, "\(wrong), got \(Options.describe(node))") }
        var rules: [ProductClassRule] = []
        for (i, entry) in seq.enumerated() {
            let entryPath = "\(path)[\(i)]", entryLine = entry.mark?.line ?? line
            func checkNew(_ name: String) throws {
                if let j = rules.firstIndex(where: { $0.name == name }) {
                    throw o.error(atLine: entryLine, path: entryPath, "names the class \"\(name)\" again (also \(path)[\(j)]): give each class one entry and list its values under `values:`")
                }
            }
            if case let .scalar(s) = entry, !s.string.isEmpty {
                try checkNew(s.string)
                rules.append(ProductClassRule(name: s.string, column: label, values: [s.string]))
                continue
            }
            guard case .mapping = entry else { throw o.error(atLine: entryLine, path: entryPath, "\(wrong), got \(Options.describe(entry))") }
            let r = try Options(file: o.file, path: entryPath, node: entry)
            let name = try r.string("name")
            guard !name.isEmpty else { throw r.error("name", "must not be empty") }
            let column = try r.string("column", default: label)
            var values: [String] = []
            if let raw = r.raw("values") {
                switch raw.node {
                case let .scalar(s): values = [s.string]
                case let .sequence(vs): values = vs.compactMap { $0.scalar?.string }
                    if values.count != vs.count { values = [] }
                default: break
                }
                guard !values.isEmpty, values.allSatisfy({ !$0.isEmpty }) else {
                    throw r.error(atLine: raw.line, path: raw.path, "must be a value or a list of values of column \(column), got \(Options.describe(raw.node))")
                }
            } else {
                values = [name]
            }
            try r.finish()
            try checkNew(name)
            rules.append(ProductClassRule(name: name, column: column, values: values))
        }
        guard rules.count >= 2 else {
            throw o.error(atLine: line, path: path, "names 1 class; a classifier needs at least 2")
        }
        return rules
    }

    /// `data.augmentation`: the ImageDataGenerator arguments, with Keras' defaults.
    static func parseAugmentation(_ o: Options) throws -> AugmentationSettings {
        var s = AugmentationSettings()
        s.rotationRange = try o.double("rotation_range", default: 0, min: 0, max: 360)
        s.widthShiftRange = try parseShiftRange("width_shift_range", o)
        s.heightShiftRange = try parseShiftRange("height_shift_range", o)
        if let raw = o.raw("zoom_range") {
            let wrong = "must be a number z in [0, 1) (zoom in [1-z, 1+z]) or a list [lo, hi] with 0 < lo <= hi"
            if let z = Options.number(raw.node) {
                guard z >= 0, z < 1 else { throw o.error(atLine: raw.line, path: raw.path, "\(wrong), got \(Options.format(z))") }
                s.zoomRange = AugmentationSettings.zoom(z)
            } else if case let .sequence(seq) = raw.node, seq.count == 2,
                      let lo = Options.number(seq[0]), let hi = Options.number(seq[1]), lo > 0, lo <= hi, hi.isFinite {
                s.zoomRange = (lo, hi)
            } else {
                throw o.error(atLine: raw.line, path: raw.path, "\(wrong), got \(Options.describe(raw.node))")
            }
            o.record("zoom_range", raw.node)
        } else {
            o.record("zoom_range", Node("0.0", Tag(.float)))
        }
        s.shearRange = try o.double("shear_range", default: 0, min: 0, max: 90)
        s.horizontalFlip = try o.bool("horizontal_flip", default: false)
        s.verticalFlip = try o.bool("vertical_flip", default: false)
        let modes = AugmentationSettings.FillMode.allCases.map(\.rawValue)
        s.fillMode = AugmentationSettings.FillMode(rawValue: try o.choice("fill_mode", modes, default: "nearest"))!
        s.cval = try o.float("cval", default: 0)
        try o.finish()
        return s
    }

    /// A shift range as Keras reads it (`ShiftRange`): the YAML tag decides, so `2` draws whole
    /// pixels −1…1 and `2.0` any shift in [−2, 2).
    static func parseShiftRange(_ key: String, _ o: Options) throws -> ShiftRange {
        guard let raw = o.raw(key) else {
            o.record(key, Node("0.0", Tag(.float)))
            return .off
        }
        let wrong = "must be a float r ≥ 0 (uniform in [-r, r); a fraction of the side when < 1, else pixels), "
            + "an integer n ≥ 0 (whole pixels -(n-1) … n-1) or a non-empty list of numbers (one of them, with a random sign)"
        let range: ShiftRange
        switch raw.node {
        case .scalar where raw.node.tagName == .int:
            guard let n = raw.node.int, n >= 0 else { throw o.error(atLine: raw.line, path: raw.path, "\(wrong), got \(Options.describe(raw.node))") }
            range = .integers(n)
            o.record(key, Node(String(n), Tag(.int)))
        case .scalar:
            guard let r = Options.number(raw.node), r >= 0, r.isFinite else {
                throw o.error(atLine: raw.line, path: raw.path, "\(wrong), got \(Options.describe(raw.node))")
            }
            // Keras draws numpy's uniform(-r, r), which refuses a range 2r that overflows.
            guard (2 * r).isFinite else {
                throw o.error(atLine: raw.line, path: raw.path, "is \(Options.format(r)): the range [-r, r) is wider than a double can hold (numpy's uniform refuses it too)")
            }
            range = .uniform(r)
            o.record(key, Node(Options.format(r), Tag(.float)))
        case let .sequence(items):
            let values = items.compactMap { Options.number($0) }
            guard !items.isEmpty, values.count == items.count, values.allSatisfy(\.isFinite) else {
                throw o.error(atLine: raw.line, path: raw.path, "\(wrong), got \(Options.describe(raw.node))")
            }
            range = .list(values)
            o.record(key, raw.node)
        default:
            throw o.error(atLine: raw.line, path: raw.path, "\(wrong), got \(Options.describe(raw.node))")
        }
        return range
    }

    /// `first N`, a fraction in (0, 1), or `none`.
    static func parseValidation(_ node: Node, line: Int, path: String, options o: Options) throws -> ValidationSplit {
        let wrong = "must be `first N` (N a positive integer), a fraction between 0 and 1 (e.g. 0.2), `test` (validate on the test split) or `none`"
        if let v = Options.number(node) {
            guard v > 0, v < 1 else { throw o.error(atLine: line, path: path, "\(wrong), got \(Options.describe(node))") }
            return .fraction(v)
        }
        guard case let .scalar(s) = node else { throw o.error(atLine: line, path: path, "\(wrong), got \(Options.describe(node))") }
        let words = s.string.split(separator: " ", omittingEmptySubsequences: true)
        if words.count == 1, words[0] == "none" { return .none }
        if words.count == 1, words[0] == "test" { return .test }
        if words.count == 2, words[0] == "first", let n = Int(words[1]), n > 0 { return .first(n) }
        throw o.error(atLine: line, path: path, "\(wrong), got \(Options.describe(node))")
    }

    /// `formats: both` (default), `csv`, `hdf5`, or a list of those.
    static func parseFormats(_ o: Options) throws -> Set<String> {
        guard let raw = o.raw("formats") else { o.record("formats", Node("both")); return ["csv", "hdf5"] }
        let known = ["csv", "hdf5"]
        var words: [String] = []
        switch raw.node {
        case let .scalar(s): words = [s.string]
        case let .sequence(seq): words = seq.map { $0.string ?? "" }
        default: break
        }
        if words == ["both"] { words = known }
        guard !words.isEmpty, words.allSatisfy(known.contains) else {
            throw o.error(atLine: raw.line, path: raw.path, "must be csv, hdf5, both, or a list of csv and hdf5, got \(Options.describe(raw.node))")
        }
        o.record("formats", raw.node)
        return Set(words)
    }

    static func parseModel(_ o: Options) throws -> ModelSpec {
        let inputShape = o.has("input_shape") ? try o.intList("input_shape", count: 1...3, min: 1, max: 4096) : nil
        guard let layerOptions = try o.list("layers") else { throw o.missing("layers", "is required: a list of layers, each with a `type:`") }
        guard !layerOptions.isEmpty else { throw o.error("layers", "must list at least one layer") }
        var layers: [(type: String, name: String?, line: Int, path: String, make: () throws -> Layer)] = []
        for lo in layerOptions {
            let type = try lo.string("type")
            guard let maker = LayerRegistry.makers[type] else {
                throw lo.error("type", "must be one of \(LayerRegistry.names.joined(separator: ", ")), got \"\(type)\"")
            }
            // An optional Keras-style layer name: it names the layer in the summary and its
            // group in weights.h5, so it must be unique and a plain identifier.
            var name: String?
            if let n = try lo.optionalString("name") {  // read even when absent: a known key
                guard !n.isEmpty, n.count <= 100, n.first!.isLetter || n.first == "_",
                      n.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw lo.error("name", "must be 1–100 ASCII letters, digits or '_', starting with a letter or '_', got \"\(n)\"")
                }
                if let earlier = layers.first(where: { $0.name == n }) {
                    throw lo.error("name", "\"\(n)\" is already the name of the layer at \(earlier.path) (line \(earlier.line))")
                }
                name = n
            }
            _ = try maker(lo)  // reads and checks every option now, so errors come before any run starts
            try lo.finish()
            layers.append((type, name, lo.line, lo.path, { try maker(lo) }))
        }
        o.record("layers", .sequence(Node.Sequence(layerOptions.map(\.resolvedNode))))
        try o.finish()
        return ModelSpec(inputShape: inputShape, layers: layers)
    }

    static func parseTraining(_ o: Options, overrides: Overrides) throws -> (spec: TrainingSpec, options: Options) {
        var epochs = try o.positiveInt("epochs", default: 10, max: 1_000_000)
        if let e = overrides.epochs { epochs = e; o.record("epochs", Node(String(e), Tag(.int))) }
        let batch = try o.positiveInt("batch_size", default: 32, max: 1 << 16)
        let shuffle = try o.bool("shuffle", default: true)
        let loss = try o.choice("loss", Losses.names, default: "categorical_crossentropy")
        let fromLogits = try o.bool("from_logits", default: false)
        if fromLogits, Losses.make(loss)?.outputActivation == .linear {
            throw o.error("from_logits", "is true, but \(loss) takes the outputs as they are (Keras' MeanSquaredError has no from_logits); remove it")
        }
        let targets = try o.choice("targets", ["labels", "inputs"], default: "labels")
        if targets == "inputs", Losses.make(loss)?.acceptsValueTargets != true {
            throw o.error("loss", "is \(loss), which compares class labels; training.targets: inputs needs mean_squared_error or binary_crossentropy")
        }

        // `optimizer: adam` or a mapping with `name:` and the optimizer's own keys.
        let optimizerOptions: Options
        let optimizerLine = o.lineOf("optimizer")
        if let raw = o.raw("optimizer"), case .scalar = raw.node {
            // The synthesised `name:` key carries the scalar's place, so a bad name is reported at its line.
            let key = Node.scalar(Node.Scalar("name", .implicit, .any, raw.node.mark))
            optimizerOptions = try Options(file: o.file, path: raw.path, node: .mapping(Node.Mapping([(key, raw.node)], .implicit, .any, raw.node.mark)))
        } else {
            optimizerOptions = try o.child("optimizer") ?? Options(file: o.file, path: Options.join(o.path, "optimizer"), node: .mapping(Node.Mapping([(Node("name"), Node("adam"))])))
        }
        let optimizer = try Optimizers.make(optimizerOptions)
        try optimizerOptions.finish()
        o.record("optimizer", optimizerOptions.resolvedNode)
        let optimizerName = type(of: optimizer).typeName

        var callbacks: [CallbackSpec] = []
        let callbackOptions = try o.list("callbacks") ?? []
        for c in callbackOptions {
            let kind: CallbackSpec.Kind
            switch try c.choice("type", CallbackSpec.types) {
            case "EarlyStopping": kind = .earlyStopping(try EarlyStopping.Settings(options: c))
            case "ReduceLROnPlateau": kind = .reduceLROnPlateau(try ReduceLROnPlateau.Settings(options: c))
            default: kind = .modelCheckpoint(try ModelCheckpoint.Settings(options: c))
            }
            if case .modelCheckpoint = kind, let first = callbacks.first(where: { if case .modelCheckpoint = $0.kind { true } else { false } }) {
                throw c.error("is a second ModelCheckpoint (the first is \(first.path)): both would write the run's one weights.h5; keep one")
            }
            callbacks.append(CallbackSpec(kind: kind, line: c.line, path: c.path))
            try c.finish()
        }
        o.record("callbacks", .sequence(Node.Sequence(callbackOptions.map(\.resolvedNode))))
        var threads = try o.int("threads", default: 0, min: 0, max: 256)
        if let t = overrides.threads { threads = t; o.record("threads", Node(String(t), Tag(.int))) }
        let parallelism = try o.choice("parallelism", ["auto", "data", "blas"], default: "auto")
        let initFrom = try o.optionalString("init_from")
        if initFrom?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            throw o.error("init_from", "is empty: name an experiment (its latest finished run), a run directory or a weights.h5 file")
        }
        try o.finish()
        let spec = TrainingSpec(epochs: epochs, batchSize: batch, shuffle: shuffle, loss: loss, fromLogits: fromLogits, targets: targets,
                                optimizerLine: optimizerLine, makeOptimizer: { try Optimizers.make(optimizerOptions) },
                                optimizerName: optimizerName, learningRate: Double(optimizer.learningRate),
                                callbacks: callbacks, initFrom: initFrom, threads: threads, parallelism: parallelism)
        return (spec, o)
    }

    static func parseReference(_ o: Options?) throws -> Options? {
        guard let o else { return nil }
        _ = try o.string("source")
        for key in ["validation_accuracy", "test_accuracy", "train_accuracy"] { _ = try o.optionalDouble(key, min: 0, max: 1) }
        for key in ["validation_loss", "test_loss", "train_loss"] { _ = try o.optionalDouble(key, min: 0) }
        _ = try o.optionalInt("epochs", min: 1)
        _ = try o.optionalDouble("train_seconds", min: 0)
        _ = try o.optionalDouble("keras_test_accuracy", min: 0, max: 1)
        _ = try o.optionalString("notes")
        try o.finish()
        return o
    }

    /// The same experiment with another seed (a repeat), read again so that everything the
    /// seed drives — split, weights, shuffling, dropout — and the resolved file follow it.
    public func withSeed(_ seed: UInt64) throws -> Experiment {
        var o = source.overrides
        o.seed = seed
        o.repeats = 1
        return try Experiment.parse(yaml: source.yaml, file: file, overrides: o, patches: source.patches, patchOrigins: source.patchOrigins)
    }

    static func reason(_ error: Error, path: String? = nil) -> String {
        FileProblem.reason(error, path: path ?? (error as? CocoaError)?.filePath)
    }
}
