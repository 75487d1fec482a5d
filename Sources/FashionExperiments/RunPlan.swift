import Foundation
import FashionConfig
import FashionTensor
import FashionNN
import FashionData
import FashionReports

/// Everything a run needs, prepared and checked before anything is written: the data
/// (loaded, split, limited), the model (built and shape-checked) and its optimizer.
public final class RunPlan {
    public let experiment: Experiment
    public let train: ImageSet
    public let validation: ImageSet?
    public let test: ImageSet
    public let model: Sequential
    public let optimizer: Optimizer
    public let threads: Int
    /// Replicas training shards of each batch (1: one model with multi-threaded BLAS).
    public let dataParallelWorkers: Int
    /// The weights file the model started from (`training.init_from`).
    public private(set) var initializedFrom: URL?

    /// What loading the data found (product images: rows skipped and why, the cache used).
    public private(set) var dataNotes: [String] = []
    /// Every styles.csv row and image file the product-image loader left out.
    public private(set) var dataSkipped: [SkippedProduct] = []

    public convenience init(experiment e: Experiment, loadData: Bool = true) throws {
        let loaded: (train: ImageSet, validation: ImageSet?, test: ImageSet, notes: [String], skipped: [SkippedProduct])?
        do { loaded = loadData ? try RunPlan.loadDatasetReporting(e) : nil } catch let c as ConfigError { throw e.attributing(c) }
        // Classes the loader dropped (too few images, or too few that decode) explain a model
        // whose outputs miss the classes the data kept.
        let dropped = loaded?.notes.filter { $0.hasPrefix(ProductLoadReport.droppedPrefix) } ?? []
        try self.init(experiment: e, data: loaded.map { ($0.train, $0.validation, $0.test) }, classNotes: dropped)
        dataNotes = loaded?.notes ?? []
        dataSkipped = loaded?.skipped ?? []
    }

    /// With data given (train, validation, test) instead of read from the experiment's
    /// dataset: cross-validation folds, for example.
    /// The trainer this plan's experiment trains with: batch sizes, scale, shuffling and
    /// augmentation. Every path that trains (a run, a 5x2cv fold) builds it here, so none
    /// drops one of the experiment's settings.
    public func makeTrainer(callbacks: [Callback]) -> Trainer {
        let e = experiment
        return Trainer(model: model, optimizer: optimizer, callbacks: callbacks, batchSize: e.training.batchSize,
                       evaluationBatchSize: e.evaluationBatchSize, scale: Float(e.data.rescale),
                       shuffle: e.training.shuffle, seed: e.seed, augmentation: e.data.augmentation.map { ($0, e.seed) })
    }

    /// `classNotes`: what loading said of dropped classes, added to an error of the model's
    /// outputs not matching the classes.
    public convenience init(experiment e: Experiment, data: (ImageSet, ImageSet?, ImageSet)?, classNotes: [String] = []) throws {
        do { try self.init(unattributed: e, data: data, classNotes: classNotes) } catch let c as ConfigError { throw e.attributing(c) }
    }

    /// The checks, with each mistake at its key or where a patch of that key was written;
    /// `Experiment.attributing` finds the patch behind a mistake between keys.
    init(unattributed e: Experiment, data: (ImageSet, ImageSet?, ImageSet)?, classNotes: [String] = []) throws {
        experiment = e
        threads = e.training.threads > 0 ? e.training.threads : ProcessInfo.processInfo.activeProcessorCount
        Parallel.workers = threads

        let classes = data?.0.classNames.count ?? e.data.expectedClasses
        let datasetShape = data?.0.shape ?? e.data.imageShape
        // Product images have the shape their settings give, known before loading; model
        // tests build Fashion-MNIST experiments with small shapes and no data.
        if data != nil || e.data.products != nil { try RunPlan.checkInputShape(e, datasetShape) }
        let inputShape = e.model.inputShape ?? datasetShape

        if let data {
            (train, validation, test) = data
        } else {
            let empty = ImageSet(shape: inputShape, pixels: [], labels: [], classNames: (0..<(classes ?? 0)).map(String.init))
            (train, validation, test) = (empty, nil, empty)
        }
        model = try RunPlan.buildModel(e, inputShape: inputShape, classes: classes, classNames: data?.0.classNames, classNotes: classNotes)
        // One replica per thread, each on its shard with single-threaded BLAS, keeps every core
        // busy in the element-wise, im2col and pooling work too; measured faster than one model
        // with multi-threaded BLAS for model_1, model_2 and model_4 alike (bench, 2 cores), so
        // `auto` takes it whenever each replica gets at least two samples.
        // BatchNormalization normalises by the statistics of the batch it sees: replicas would
        // each use their shard's statistics (not Keras' whole-batch ones) and race on the shared
        // moving statistics, so such models always run as one model with multi-threaded BLAS.
        let hasBatchNormalization = model.layers.contains { $0 is BatchNormalization }
        if e.training.parallelism == "data", hasBatchNormalization {
            throw e.error(at: "training.parallelism",
                          "is data, but the model has BatchNormalization, whose batch statistics need the whole batch in one model; use auto or blas")
        }
        let dataParallel = threads > 1 && (e.training.parallelism == "data"
            || (e.training.parallelism == "auto" && e.training.batchSize >= 2 * threads))
            && !hasBatchNormalization
        if dataParallel {
            do {
                try model.makeDataParallel(workers: threads) { try e.model.layers.map { try $0.make() } }
            } catch let s as ShapeError {
                let spec = e.model.layers[min(s.layerIndex, e.model.layers.count - 1)]
                throw e.error(at: spec.path, line: spec.line,
                              "\(s.layer) \(s.message), with one replica of the model per thread (\(threads) threads, training.parallelism "
                              + "\(e.training.parallelism)); training.parallelism: blas or --threads 1 builds one model")
            }
        }
        dataParallelWorkers = dataParallel ? threads : 1
        BLAS.threads = dataParallel ? 1 : threads
        model.initialize(seed: e.seed)
        if let reference = e.training.initFrom, data != nil {  // a real run; bench and check need no weights
            do {
                let url = try ModelWeights.resolve(reference, resultsRoot: e.outputDirectory, from: (e.name, e.file))
                try ModelWeights.load(model, from: url)
                initializedFrom = url
            } catch let h as HarnessError {
                throw e.error(at: "training.init_from", "→ \(h.description)")
            } catch let h as HDF5Error {
                throw e.error(at: "training.init_from", "→ \(h.description)")
            }
        }
        optimizer = try e.training.makeOptimizer()

        for c in e.training.callbacks {
            if c.monitor.hasPrefix("val_"), e.data.validation == .none || (data != nil && validation == nil) {
                throw e.error(at: c.path + ".monitor", line: c.line,
                              "is \(c.monitor) but there is no validation set (set data.validation)")
            }
            if model.reconstructsInput, c.monitor.hasSuffix("accuracy") {
                throw e.error(at: c.path + ".monitor", line: c.line,
                              "is \(c.monitor) but a model reconstructing its input has no accuracy: monitor loss or val_loss")
            }
        }
        if model.reconstructsInput {
            try RunPlan.checkReconstruction(e)
        }
    }

    static func checkInputShape(_ e: Experiment, _ datasetShape: [Int]) throws {
        if let shape = e.model.inputShape, shape != datasetShape {
            throw e.error(at: "model.input_shape", "is \(shapeText(shape)) but the dataset's images are \(shapeText(datasetShape))")
        }
    }

    /// What `check` tells of Fashion-MNIST without reading it (a check needs neither the data
    /// nor init_from's run): its images are 28x28x1, and the Debian package's training split
    /// holds 6,000 images of each class and its test split 1,000, so the split keys are checked
    /// on a stand-in of those sizes, by the same code as a run. Another copy (`data.path`) may
    /// hold other counts: its shape alone is checked.
    public static func checkKnownData(_ e: Experiment) throws {
        guard e.data.products == nil else { return }
        try checkInputShape(e, e.data.imageShape)
        guard e.data.path == nil else { return }
        let classes = e.data.classes?.count ?? 10
        func standIn(_ perClass: Int) -> ImageSet {
            let labels = (0..<classes * perClass).map { Int32($0 % classes) }
            return ImageSet(shape: e.data.imageShape, pixels: [UInt8](repeating: 0, count: labels.count * e.data.imageShape.reduce(1, *)), labels: labels,
                            classNames: (0..<classes).map(String.init))
        }
        let fullTrain = standIn(6000), test = standIn(1000)
        let (train, validation) = try splitValidation(e, fullTrain, test: test)
        try checkNotEmpty(e, train: train, validation: validation, test: e.data.testLimit.map { test.prefix($0) } ?? test,
                          of: fullTrain.count, heldOut: nil)
    }

    /// What a model trained on its own input needs: targets the loss can take and inputs
    /// that are the targets.
    static func checkReconstruction(_ e: Experiment) throws {
        if e.data.augmentation != nil {
            // Keras' flow(x, x) would augment the inputs only and ask for the clean image back;
            // here the targets are the (augmented) inputs themselves, so refuse rather than
            // silently train something else.
            throw e.error(at: "data.augmentation", "cannot be used with training.targets: inputs (the targets would be the augmented images); remove it")
        }
        if e.training.loss == "binary_crossentropy", e.data.rescale * 255 > 1 + 1e-9 {
            throw e.error(at: "training.loss", "binary_crossentropy on reconstructed inputs needs targets in [0, 1], but data.rescale \(e.data.rescale) makes pixels up to \(e.data.rescale * 255); use rescale: 0.00392156862745098 (1/255) or mean_squared_error")
        }
    }

    /// Builds the layers in order; a shape mistake names the file, the layer's line and shapes.
    /// `classNames`: the loaded data's, named when the model's outputs do not match them (a
    /// class the data lacks, dropped by min_count or for want of images, shows there).
    static func buildModel(_ e: Experiment, inputShape: [Int], classes: Int?, classNames: [String]? = nil, classNotes: [String] = []) throws -> Sequential {
        let layers = try e.model.layers.map { try $0.make() }
        let loss = Losses.make(e.training.loss)!
        let maxBatch = max(e.training.batchSize, e.evaluationBatchSize)
        let model: Sequential
        do {
            model = try Sequential(inputShape: inputShape, layers: layers, loss: loss, maxBatch: maxBatch, fromLogits: e.training.fromLogits,
                                   reconstructsInput: e.training.targets == "inputs", names: e.model.layers.map(\.name))
        } catch let s as ShapeError {
            let spec = e.model.layers[min(s.layerIndex, e.model.layers.count - 1)]
            let input = s.message.contains("input (") ? "" : " (input \(shapeText(inputShape)))"
            throw e.error(at: spec.path, line: spec.line, "\(s.layer) \(s.message)\(input)")
        }
        if let classes, !model.reconstructsInput, model.classes != classes {
            let spec = e.model.layers[e.model.layers.count - 1]
            throw e.error(at: spec.path, line: spec.line,
                          "outputs \(model.classes) values but the dataset has \(classes) classes"
                          + (classNames.map { $0.count <= 30 ? " (\($0.joined(separator: ", ")))" : "" } ?? "")
                          // Keras' one-unit sigmoid for two classes: here every class has its output.
                          + (model.classes == 1 && classes == 2
                             ? "; a classifier here has one output per class: for two, Dense(2, softmax) with categorical cross-entropy, or Dense(2, sigmoid) with binary_crossentropy on one-hot labels" : "")
                          + classNotes.map { "; \($0)" }.joined())
        }
        return model
    }

    /// Loads the dataset, keeps the selected classes (relabelled), splits off validation,
    /// then applies the limits.
    public static func loadDataset(_ e: Experiment) throws -> (ImageSet, ImageSet?, ImageSet) {
        let d = try loadDatasetReporting(e)
        return (d.train, d.validation, d.test)
    }

    /// The split data and what loading it found.
    public static func loadDatasetReporting(_ e: Experiment) throws -> (train: ImageSet, validation: ImageSet?, test: ImageSet, notes: [String], skipped: [SkippedProduct]) {
        if let products = e.data.products { return try loadProducts(e, products) }
        var (fullTrain, test): (ImageSet, ImageSet)
        do {
            (fullTrain, test) = try FashionMNIST.load(directory: e.data.path, verifyChecksums: e.data.verifyChecksums)
        } catch let d as DataError where e.data.path != nil {
            // The file chose the directory: say where.
            throw e.error(at: "data.path", "→ \(d.description)")
        } catch let d as DataError where ProcessInfo.processInfo.environment[FashionMNIST.environmentVariable]?.isEmpty == false {
            // The environment chose it: say so.
            throw DataError(file: d.file, problem: d.problem, remedy: d.remedy + " (the directory is $\(FashionMNIST.environmentVariable), for \(e.file))")
        }
        if let classes = e.data.classes {
            fullTrain = fullTrain.selectingClasses(classes)
            test = test.selectingClasses(classes)
            // A class the files lack would train a model for a class it never sees.
            let present = Set(fullTrain.labels)
            if let absent = classes.indices.first(where: { !present.contains(Int32($0)) }) {
                throw e.error(at: "data.classes", "names class \(classes[absent]) (\(FashionMNIST.classNames[classes[absent]])), which has no training images in \(FashionMNIST.resolveDirectory(e.data.path))")
            }
            if let names = e.data.classNames { fullTrain.classNames = names; test.classNames = names }
        }
        let (train, validation) = try splitValidation(e, fullTrain, test: test)
        let limitedTest = e.data.testLimit.map { test.prefix($0) } ?? test
        try checkNotEmpty(e, train: train, validation: validation, test: limitedTest, of: fullTrain.count, heldOut: nil)
        return (e.data.limit.map { train.prefix($0) } ?? train, validation, limitedTest, [], [])
    }

    /// A part without images would train on nothing or report an accuracy of nothing as 0:
    /// refuse it, naming the key that emptied it and the counts. `heldOut`: images of the
    /// product set before the test split (nil for Fashion-MNIST, whose test set is its own).
    static func checkNotEmpty(_ e: Experiment, train: ImageSet, validation: ImageSet?, test: ImageSet, of total: Int, heldOut: Int?) throws {
        let parts = "training \(train.count), validation \(validation?.count ?? 0), test \(test.count)"
        if test.count == 0 {
            throw e.error(at: heldOut != nil ? "data.test_fraction" : "data",
                          heldOut.map { "holds out no test images of \($0) (parts: \(parts)); raise it or use more images per class" }
                              ?? "leaves no test images (parts: \(parts))")
        }
        if train.count == 0 {
            // Validation took what the test split left, unless that split left nothing.
            let key = validation != nil && total > 0 ? "data.validation" : heldOut != nil ? "data.test_fraction" : "data"
            throw e.error(at: key, "leaves no training images of \(key == "data.test_fraction" ? heldOut ?? total : total) (parts: \(parts)); lower it or use more images per class")
        }
        if let validation, validation.count == 0 {
            throw e.error(at: "data.validation", "takes no images of \(total) (parts: \(parts)); raise it or use more images per class")
        }
    }

    /// Product images: select and decode (cached), undersample, hold out the stratified test
    /// part, split off validation, oversample the training part.
    static func loadProducts(_ e: Experiment, _ p: ProductDataSpec) throws -> (train: ImageSet, validation: ImageSet?, test: ImageSet, notes: [String], skipped: [SkippedProduct]) {
        // Without path: or $FASHION_PRODUCTS_DIR, the shared slice beside the checkout (or
        // beside the experiment file's project) when it is there.
        let projectRoot = URL(fileURLWithPath: e.file).deletingLastPathComponent().deletingLastPathComponent().path
        let fallbacks = [ProductImages.sharedSlice, (projectRoot as NSString).appendingPathComponent(ProductImages.sharedSlice)]
        guard let directory = ProductImages.resolveDirectory(e.data.path, fallbacks: fallbacks) else {
            throw e.error(at: "data", "names no product-image data set: neither data.path nor $\(ProductImages.environmentVariable) is set, and \(ProductImages.sharedSlice) does not exist here or beside the experiment's project. \(ProductImages.downloadRemedy)")
        }
        var (all, report): (ImageSet, ProductLoadReport)
        do {
            (all, report) = try ProductImages.load(directory: directory, settings: p.settings,
                                                   cacheDirectory: p.cache ? ProductImages.defaultCacheDirectory() : nil, threads: e.training.threads)
        } catch let d as DataError {
            // The key whose value the data did not bear out, else the one that chose the directory.
            if let key = d.key { throw e.error(at: "data.\(key)", line: p.lines[key] ?? e.lines["data"], "→ \(d.description)") }
            if e.data.path != nil { throw e.error(at: "data.path", "→ \(d.description)") }
            let fromEnvironment = !(ProcessInfo.processInfo.environment[ProductImages.environmentVariable] ?? "").isEmpty
            let source = fromEnvironment ? "(the directory of $\(ProductImages.environmentVariable)) " : ""
            throw e.error(at: "data", "→ \(source)\(d.description)")
        }
        var notes = report.lines
        // The class counts before undersampling, and what it did, for an empty part.
        var undersampled: (before: [Int], what: String)?
        if case .undersample(let perClass)? = p.balance {
            let names = all.classNames, before = all.classCounts
            all = p.balance!.apply(to: all, seed: e.seed)
            notes.append("Balanced by undersampling: \(all.count) images (" + zip(all.classNames, all.classCounts).map { "\($0) \($1)" }.joined(separator: ", ") + ")")
            func images(_ n: Int) -> String { "\(n) image\(n == 1 ? "" : "s")" }
            if let perClass {
                undersampled = (before, "cuts every class to at most its per_class = \(images(perClass))")
            } else if let smallest = zip(names, before).filter({ $0.1 > 0 }).min(by: { $0.1 < $1.1 }) {
                undersampled = (before, "cuts every class to \(images(smallest.1)), the count of its smallest class (\(smallest.0))")
            }
        }
        let split = Split.stratified(fraction: p.testFraction, seed: e.seed, stream: "test-split", of: all)
        var (train, validation) = try splitValidation(e, split.train, test: split.validation)
        if let balance = p.balance, case .oversample = balance {
            let count = balance.count(classCounts: train.classCounts)
            if let needed = ImageSet.sizeBeyondHalfMemory(images: count, imageBytes: train.shape.reduce(1, *)) {
                let key = balance.perClass != nil ? "balance.per_class" : "balance"
                throw e.error(at: "data.\(key)", line: p.lines[key],
                              "oversamples the training part to \(count) images of \(shapeText(train.shape)), \(needed), more than half of this machine's memory; lower per_class")
            }
            train = balance.apply(to: train, seed: e.seed)
            notes.append("Training part balanced by oversampling: \(train.count) images")
        }
        let test = e.data.testLimit.map { split.validation.prefix($0) } ?? split.validation
        // A part the split leaves empty only after undersampling: the balance emptied it.
        if let undersampled, test.count == 0 || split.train.count == 0, undersampled.before.reduce(0, +) > all.count {
            let heldOut = undersampled.before.map { Split.heldOut(fraction: p.testFraction, of: $0) }
            if heldOut.reduce(0, +) > 0, zip(undersampled.before, heldOut).contains(where: { $0 > $1 }) {
                let parts = "training \(train.count), validation \(validation?.count ?? 0), test \(test.count)"
                throw e.error(at: "data.balance", line: p.lines["balance"],
                              "undersampling \(undersampled.what), too few to hold out both a test and a training part (parts: \(parts)); "
                              + (p.balance?.perClass != nil ? "raise per_class" : "raise data.min_count to leave that class out, or oversample instead"))
            }
        }
        try checkNotEmpty(e, train: train, validation: validation, test: test, of: split.train.count, heldOut: all.count)
        return (e.data.limit.map { train.prefix($0) } ?? train, validation, test, notes, report.skipped)
    }

    /// The validation part of the training data (`validation: test` uses the test split).
    static func splitValidation(_ e: Experiment, _ fullTrain: ImageSet, test: ImageSet) throws -> (ImageSet, ImageSet?) {
        var train = fullTrain, validation: ImageSet?
        switch e.data.validation {
        case .test: validation = e.data.testLimit.map { test.prefix($0) } ?? test
        case .none: validation = nil
        case let .first(n):
            guard n < fullTrain.count else {
                throw e.error(at: "data.validation",
                              "takes the first \(n) examples but the training set has only \(fullTrain.count)")
            }
            (train, validation) = Split.first(n, of: fullTrain)
        case let .fraction(f):
            let split = Split.stratified(fraction: f, seed: e.seed, of: fullTrain)
            (train, validation) = (split.train, split.validation)
        }
        return (train, validation)
    }
}
