import Foundation
import Yams
import FashionConfig
import FashionData
import FashionNN

/// Where the validation set comes from.
public enum ValidationSplit: Equatable, Sendable {
    case none
    /// The first n training examples (seed 000's split).
    case first(Int)
    /// A seeded, stratified fraction of the training examples.
    case fraction(Double)
    /// The test split itself, as Keras' `validation_data=(x_test, y_test)` (seeds 001 and 002).
    case test
}

/// `dataset: fashion_products`: which product images, how big, how split and balanced.
public struct ProductDataSpec {
    public var settings: ProductImageSettings
    /// The held-out test part (stratified, seeded); the rest is for training and validation.
    public var testFraction: Double
    /// Undersampling applies to the whole selection before it is split (as seed 002 rebalanced
    /// its data set); oversampling only to the training part, so that copies of one image never
    /// end up on both sides of a split.
    public var balance: Balance?
    /// Keep the decoded, resized images in one uint8 file per configuration.
    public var cache: Bool
    /// Lines of the section's keys ("label", "classes[2]", "classes[2].column", "min_count",
    /// "balance.per_class", …), for errors that only the data reveals.
    public var lines: [String: Int] = [:]
}

public struct DataSpec {
    public var dataset: String
    public var path: String?
    public var validation: ValidationSplit
    public var rescale: Double
    public var verifyChecksums: Bool
    public var limit: Int?
    public var testLimit: Int?
    /// Keep only these classes (original ids), relabelled 0..<k in this order.
    public var classes: [Int]?
    /// New names for the selected classes, in the same order.
    public var classNames: [String]?
    /// `data.augmentation`: Keras ImageDataGenerator-style random transforms of training batches.
    public var augmentation: AugmentationSettings? = nil
    /// Set for `dataset: fashion_products`.
    public var products: ProductDataSpec? = nil

    /// [height, width, channels] of the dataset's images, known without loading them.
    public var imageShape: [Int] {
        if let p = products { return [p.settings.height, p.settings.width, 3] }
        return [28, 28, 1]
    }

    /// The number of classes, when it is known without loading the data.
    public var expectedClasses: Int? {
        guard let p = products else { return classes?.count ?? 10 }
        switch p.settings.classes {
        case .all: return nil
        case .top: return nil  // min_count may leave fewer
        case let .rules(rules): return p.settings.minCount <= 1 ? Set(rules.map(\.name)).count : nil
        }
    }
}

/// What a run writes besides history.csv and metrics.json.
public struct OutputSpec {
    public var directory: String
    /// `csv`, `hdf5`, or both: the curves, predictions, confusion matrices and per-class metrics.
    public var formats: Set<String>
    /// gnuplot charts (PNG and SVG, with their .gp and .dat).
    public var charts: Bool
    /// Confidence level of the intervals in summaries and comparisons.
    public var confidence: Double
}

public struct ModelSpec {
    public var inputShape: [Int]?
    /// Each layer's options, already read (the layer itself is made by `layerMakers`).
    public var layers: [(type: String, name: String?, line: Int, path: String, make: () throws -> Layer)]
}

public struct CallbackSpec {
    public enum Kind {
        case earlyStopping(EarlyStopping.Settings)
        case reduceLROnPlateau(ReduceLROnPlateau.Settings)
        case modelCheckpoint(ModelCheckpoint.Settings)
    }

    public static let types = ["EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"]

    public var kind: Kind
    public var line: Int
    public var path: String

    public var monitor: String {
        switch kind {
        case let .earlyStopping(s): return s.monitor
        case let .reduceLROnPlateau(s): return s.monitor
        case let .modelCheckpoint(s): return s.monitor
        }
    }

    /// The callback for one run (a checkpoint writes into the run's directory).
    public func make(runDirectory: URL) -> Callback {
        switch kind {
        case let .earlyStopping(s): return EarlyStopping(s)
        case let .reduceLROnPlateau(s): return ReduceLROnPlateau(s)
        case let .modelCheckpoint(s): return ModelCheckpoint(s, directory: runDirectory)
        }
    }
}

public struct TrainingSpec {
    public var epochs: Int
    public var batchSize: Int
    public var shuffle: Bool
    public var loss: String
    public var fromLogits: Bool
    /// `labels` (a classifier) or `inputs` (an autoencoder: the loss compares the outputs with
    /// the input images, as Keras' `fit(x, x)`).
    public var targets: String
    public var optimizerLine: Int
    public var makeOptimizer: () throws -> Optimizer
    public var optimizerName: String
    public var learningRate: Double
    public var callbacks: [CallbackSpec]
    /// Weights to start from: a weights file, a run directory, or an experiment name.
    public var initFrom: String?
    public var threads: Int
    /// `data` (a replica per thread, single-threaded BLAS), `blas` (one model, multi-threaded
    /// BLAS) or `auto` (data when every replica gets two samples and there is no BatchNormalization).
    public var parallelism: String
}

/// An experiment file, read and checked: every key known, every value in range, every default
/// filled in (`resolvedYAML`).
public struct Experiment {
    public var file: String
    public var name: String
    public var description: String
    public var seed: UInt64
    public var data: DataSpec
    public var model: ModelSpec
    public var training: TrainingSpec
    public var evaluationBatchSize: Int
    public var output: OutputSpec
    /// Runs of the experiment with seeds seed, seed+1, …; summarised with t intervals.
    public var repeats: Int
    public var outputDirectory: String { output.directory }
    public var reference: [(String, Node)]
    /// Lines of keys whose mistakes only show once data is loaded ("data.validation" …).
    public var lines: [String: Int]
    /// The experiment with every default filled in, as YAML.
    public var resolvedYAML: String
    /// What it was read from, to read it again with another seed.
    public var source: ExperimentSource

    /// A mistake found once the file has been read (data loaded, weights looked up, model
    /// made data-parallel): at the key's line, or where a `--set` or sweep value wrote it.
    public func error(at path: String, line: Int? = nil, _ message: String) -> ConfigError {
        ExperimentSource.attribute(ConfigError(file: file, line: line ?? lines[path] ?? 1, path: path, message: message),
                                   patches: source.patches, origins: source.patchOrigins, yaml: source.yaml)
    }

    /// A mistake found when the model is built and checked (`RunPlan`) that its key alone does
    /// not explain — a `--set model.layers[9].units=5` against the dataset's 10 classes — is
    /// the patch's when the same checks, on the file without that patch, pass that key. The
    /// checks repeated are those that need no data, and what Fashion-MNIST's known sizes show
    /// (`checkKnownData`); a mistake only the data shows keeps its key's origin.
    public func attributing(_ c: ConfigError) -> ConfigError {
        guard c.origin == nil, source.patchOrigins.contains(where: { $0 != nil }) else { return c }
        // The checks in order; the first that fails, and where.
        func firstFailure(_ patches: [(String, Node)], _ origins: [String?]) -> (stage: Int, path: String)? {
            guard let other = try? Experiment.parse(yaml: source.yaml, file: file, overrides: source.overrides,
                                                    patches: patches, patchOrigins: origins) else { return (0, "") }
            let checks: [() throws -> Void] = [{ try RunPlan.checkKnownData(other) }, { _ = try RunPlan(unattributed: other, data: nil) }]
            for (stage, check) in checks.enumerated() {
                do { try check() } catch let x as ConfigError { return (stage + 1, x.path) } catch { return (stage + 1, "") }
            }
            return nil
        }
        guard let failing = firstFailure(source.patches, source.patchOrigins), failing.stage > 0, failing.path == c.path else { return c }
        return ExperimentSource.attribute(c, patches: source.patches, origins: source.patchOrigins, yaml: source.yaml) { kept in
            let (p, o) = source.keeping(kept)
            // Its key passes if all checks pass or a later check is the first to fail; the same
            // key failing is the same mistake, whatever its wording (a known-keys list or a class
            // count a patch changed); a failure before it, or another key in the same check, or
            // a file that cannot be read without the patch, tells nothing.
            guard let other = firstFailure(p, o) else { return false }
            if other.stage > failing.stage { return false }
            if other.stage == failing.stage, other.path == c.path { return true }
            return nil
        }
    }
}

public struct ExperimentSource {
    public var yaml: String
    public var overrides: Overrides
    public var patches: [(String, Node)]
    /// Where each patch was written (nil: in the file itself).
    public var patchOrigins: [String?] = []

    /// A mistake at or below a patched key is reported where the value was written; the last
    /// patch at or above the error's key set the value (later patches win).
    /// A mistake above a patched key belongs to the patch too when the file has no such key:
    /// `--set training.nonexistent.foo=1` created `training.nonexistent`.
    /// A mistake between keys (a patched loss against the file's output layer, a patched unit
    /// count against the dataset's classes, a patched layer type against the file's keys of the
    /// layer) belongs to the patches without which it does not happen at its key.
    /// `reproduced(kept)` checks again with only the patches of origin `kept` (and those written
    /// in the file itself): true if the mistake happens at the same key, false if that key passes,
    /// nil if another key fails first (a patch that mends another mistake of the file tells
    /// nothing). Each patch without which it passes is named; if each of several suffices alone
    /// (the same --set given twice), those are.
    static func attribute(_ e: ConfigError, patches: [(String, Node)], origins: [String?], yaml: String,
                          reproduced: ((Set<Int>) -> Bool?)? = nil) -> ConfigError {
        guard e.origin == nil else { return e }
        func under(_ path: String, _ key: String) -> Bool { path == key || path.hasPrefix(key + ".") || path.hasPrefix(key + "[") }
        func from(_ indices: [Int]) -> ConfigError {
            ConfigError(file: e.file, line: e.line, path: e.path, message: e.message, origin: indices.compactMap { origins[$0] }.joined(separator: ", "))
        }
        lazy var file: Node? = (try? Yams.compose(yaml: yaml)) ?? nil
        for i in patches.indices.reversed() where i < origins.count {
            let key = patches[i].0
            guard origins[i] != nil else { continue }
            if under(e.path, key) || (under(key, e.path) && file.map { !NodePatch.contains($0, path: e.path) } == true) {
                return from([i])
            }
        }
        guard let reproduced else { return e }
        let candidates = patches.indices.filter { $0 < origins.count && origins[$0] != nil }
        let all = Set(candidates)
        let needed = candidates.filter { reproduced(all.subtracting([$0])) == false }
        if !needed.isEmpty { return from(needed) }
        guard reproduced([]) == false else { return e }
        let sufficient = candidates.filter { reproduced([$0]) == true }
        return from(sufficient.isEmpty ? candidates : sufficient)
    }

    /// The patches written in the file itself (no origin) and, of the others, those in `kept`.
    func keeping(_ kept: Set<Int>) -> (patches: [(String, Node)], origins: [String?]) {
        let chosen = patches.indices.filter { $0 >= patchOrigins.count || patchOrigins[$0] == nil || kept.contains($0) }
        return (chosen.map { patches[$0] }, chosen.map { $0 < patchOrigins.count ? patchOrigins[$0] : nil })
    }
}
