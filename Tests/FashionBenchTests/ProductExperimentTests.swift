import FashionConfig
import FashionData
import FashionExperiments
import FashionReports
import Foundation
import Testing
import Yams

/// Product-image experiments end to end on a generated set: two classes of 16x12 PNGs
/// ("Topwear" bright on top, "Bottomwear" bright below, with per-image noise).
struct ProductExperimentFixture {
    let products: ProductFixture
    let results: URL
    static let perClass = 30

    init() throws {
        products = try ProductFixture()
        results = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-product-results-\(UUID().uuidString)")
        var lines = [ProductFixture.header]
        var id = 100
        for (c, sub) in ["Topwear", "Bottomwear"].enumerated() {
            for k in 0..<Self.perClass {
                var pixels = [UInt8](repeating: 0, count: 16 * 12 * 3)
                for y in 0..<16 {
                    for x in 0..<12 {
                        let bright = (y < 8) == (c == 0)
                        let noise = (x * 31 + y * 17 + k * 53) % 40
                        for ch in 0..<3 { pixels[(y * 12 + x) * 3 + ch] = UInt8(bright ? 200 + noise / 2 : noise) }
                    }
                }
                try PNGWriter.write(to: URL(fileURLWithPath: products.file("images/\(id).png")), width: 12, height: 16, channels: 3, pixels: pixels)
                lines.append(ProductFixture.row(id, sub: sub, name: "Item \(k), size M, blue"))  // unquoted commas, as Kaggle's
                id += 1
            }
        }
        try products.writeStyles(lines)
    }

    func remove() {
        products.remove()
        try? FileManager.default.removeItem(at: results)
    }

    func experiment(_ body: String, file: String = "Experiments/products.yaml", patches: [(String, Node)] = []) throws -> Experiment {
        try Experiment.parse(yaml: body.replacingOccurrences(of: "DATA_PATH", with: products.path), file: file, patches: patches)
    }

    static let classifier = """
    name: tiny_products
    seed: 4
    data:
      dataset: fashion_products
      path: DATA_PATH
      label: subCategory
      top_classes: 2
      image_size: [8, 6]
      test_fraction: 0.25
      validation: test
      cache: false
      rescale: 0.00392156862745098
      augmentation: {zoom_range: 0.1}
    model:
      input_shape: [8, 6, 3]
      layers:
        - {type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu}
        - type: Flatten
        - {type: Dense, units: 2, activation: softmax, name: head}
    training:
      epochs: 6
      batch_size: 8
      optimizer: {name: adam, learning_rate: 0.01}
      loss: sparse_categorical_crossentropy
    """

    static let autoencoder = """
    name: tiny_autoencoder
    seed: 5
    data:
      dataset: fashion_products
      path: DATA_PATH
      classes: [Topwear, Bottomwear]
      image_size: [8, 6]
      validation: 0.2
      cache: false
      rescale: 0.00392156862745098
    model:
      input_shape: [8, 6, 3]
      layers:
        - {type: Conv2D, filters: 4, kernel_size: 3, padding: same}
        - {type: LeakyReLU}
        - {type: BatchNormalization}
        - type: Flatten
        - {type: Dense, units: 4, name: latent_space}
        - {type: Dense, units: 96}
        - {type: Reshape, target_shape: [8, 6, 2]}
        - {type: Conv2DTranspose, filters: 3, kernel_size: 3, padding: same}
        - {type: Activation, activation: sigmoid, name: decoder}
    training:
      epochs: 8
      batch_size: 8
      targets: inputs
      optimizer: {name: adam, learning_rate: 0.01}
      loss: mse
      callbacks:
        - {type: ModelCheckpoint, monitor: val_loss}
    """
}

@Suite("Product-image experiments: parsing, --set, classification and reconstruction runs", .serialized)
struct ProductExperimentTests {
    func error(_ yaml: String, _ f: ProductExperimentFixture) -> String? {
        do {
            _ = try RunPlan(experiment: try f.experiment(yaml), loadData: false)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Each mutation of the classifier file fails with the file, the line and the key.
    @Test(arguments: [
        ("label: subCategory", "label: \"\"", "data.label must name a column"),
        ("top_classes: 2", "top_classes: 2\n  classes: [Topwear]", "data.classes cannot be combined with top_classes"),
        ("top_classes: 2", "top_classes: 1", "data.top_classes must be"),
        ("test_fraction: 0.25", "test_fraction: 1.5", "data.test_fraction must be"),
        ("image_size: [8, 6]", "image_size: [0, 6]", "data.image_size"),
        ("cache: false", "cache: false\n  interpolation: cubic", "data.interpolation must be one of"),
        ("cache: false", "cache: false\n  balance: {method: smote}", "data.balance.method must be one of"),
        ("cache: false", "cache: false\n  balance: {method: oversample, per_class: 0}", "data.balance.per_class"),
        ("cache: false", "cache: false\n  colour: red", "data.colour is not a known key"),
        ("top_classes: 2", "classes: [{name: Tops, colum: articleType, values: Shirts}]", "colum"),
        ("top_classes: 2", "classes: [{values: Shirts}]", "name"),
        ("top_classes: 2", "classes: [Topwear, Bottomwear, Topwear]", "data.classes[2] names the class \"Topwear\" again (also data.classes[0])"),
        ("top_classes: 2", "classes: [Topwear, {name: Topwear, values: Shirts}]", "data.classes[1] names the class \"Topwear\" again"),
        ("name: head", "name: conv2d", "\"conv2d\" is already the name of the layer"),
        ("name: head", "name: \"my head\"", "model.layers[2].name must be"),
        ("loss: sparse_categorical_crossentropy", "loss: sparse_categorical_crossentropy\n  targets: outputs", "training.targets must be one of"),
        // Values float32 cannot hold, or that overflow what they feed.
        ("learning_rate: 0.01}", "learning_rate: 1e-300}", "training.optimizer.learning_rate is 1e-300, which float32 stores as 0.0"),
        ("learning_rate: 0.01}", "learning_rate: 0.01, beta_2: 0.99999999999}", "training.optimizer.beta_2 is 0.99999999999, which float32 stores as 1.0"),
        ("{zoom_range: 0.1}", "{zoom_range: 0.1, cval: 1e39}", "data.augmentation.cval is 1e+39, which float32 stores as inf"),
        ("rescale: 0.00392156862745098\n  augmentation: {zoom_range: 0.1}", "rescale: 2\n  augmentation: {zoom_range: 0.1, cval: 3e38}",
         "data.augmentation.cval is 3e+38, which times rescale 2.0 is not finite in float32"),
        ("{zoom_range: 0.1}", "{zoom_range: 0.1, width_shift_range: 1e308}", "data.augmentation.width_shift_range is 1e+308: the range [-r, r) is wider than a double can hold"),
        ("rescale: 0.00392156862745098", "rescale: 1e300", "data.rescale must be a number > 0.0 and ≤ 1.33"),
        ("rescale: 0.00392156862745098", "rescale: 1e-50", "data.rescale is 1e-50, which float32 stores as 0"),
        ("{type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu}",
         "{type: Conv2D, filters: 4, kernel_size: 3, padding: same, activation: relu}\n    - {type: BatchNormalization, epsilon: 1e-60}",
         "model.layers[1].epsilon is 1e-60, which float32 stores as 0.0"),
    ])
    func productKeyMistakesAreLocated(_ c: (old: String, new: String, message: String)) throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        var yaml = ProductExperimentFixture.classifier
        let range = try #require(yaml.range(of: c.old), "fixture lacks \(c.old)")
        yaml.replaceSubrange(range, with: c.new)
        if c.new.hasPrefix("name: conv2d") { yaml = yaml.replacingOccurrences(of: "padding: same, activation: relu}", with: "padding: same, activation: relu, name: conv2d}") }
        let message = try #require(error(yaml, f), "\(c.new): no error")
        #expect(message.hasPrefix("Experiments/products.yaml:"), "\(message)")
        #expect(message.contains(c.message), "\(c.new): \(message)")
    }

    /// A split that leaves a part without images is refused at the key that emptied it, with
    /// the counts (the data is loaded: 30 images per class).
    @Test(arguments: [
        ("test_fraction: 0.25", "test_fraction: 0.99", "Experiments/products.yaml:9: data.test_fraction leaves no training images of 60"),
        ("validation: test", "validation: 0.9999", "Experiments/products.yaml:10: data.validation leaves no training images"),
        ("cache: false", "cache: false\n  balance: {method: undersample, per_class: 1}",
         "Experiments/products.yaml:12: data.balance undersampling cuts every class to at most its per_class = 1 image, too few to hold out both a test and a training part"),
        ("top_classes: 2", "classes: [{name: One, column: id, values: ['100']}, Topwear, Bottomwear]\n  balance: {method: undersample}",
         "Experiments/products.yaml:8: data.balance undersampling cuts every class to 1 image, the count of its smallest class (One)"),
        ("test_fraction: 0.25", "test_fraction: 0.99\n  balance: {method: undersample, per_class: 1000}",
         "Experiments/products.yaml:9: data.test_fraction leaves no training images of 60"),
        // Settings only the data can refute name their own key and line.
        ("top_classes: 2", "classes: [Topwear, Topwaer]", "Experiments/products.yaml:7: data.classes[1] → "),
        ("top_classes: 2", "classes:\n    - Topwear\n    - {name: Tops, column: subCat, values: Topwear}", "Experiments/products.yaml:9: data.classes[1].column → "),
        ("top_classes: 2", "top_classes: 2\n  min_count: 31", "Experiments/products.yaml:8: data.min_count → "),
        ("label: subCategory", "label: subCategori", "Experiments/products.yaml:6: data.label → "),
        ("image_size: [8, 6]", "image_size: [256, 256]\n  balance: {method: oversample, per_class: 10000000}",
         "Experiments/products.yaml:9: data.balance.per_class oversamples the training part to 20000000 images of (256, 256, 3)"),
    ])
    func emptyPartsAreRefused(_ c: (old: String, new: String, message: String)) throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        var yaml = ProductExperimentFixture.classifier
        let range = try #require(yaml.range(of: c.old), "fixture lacks \(c.old)")
        yaml.replaceSubrange(range, with: c.new)
        do {
            _ = try RunPlan(experiment: try f.experiment(yaml))
            Issue.record("\(c.new): loaded")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix(c.message), "\(c.new): \(e)")
        }
    }

    /// What a reconstruction run cannot do is refused before anything runs, at the key.
    @Test(arguments: [
        ("loss: mse", "loss: sparse_categorical_crossentropy", "training.loss is sparse_categorical_crossentropy, which compares class labels"),
        ("monitor: val_loss", "monitor: val_accuracy", "training.callbacks[0].monitor is val_accuracy but a model reconstructing its input has no accuracy"),
        ("cache: false", "cache: false\n  augmentation: {horizontal_flip: true}", "data.augmentation cannot be used with training.targets: inputs"),
        ("loss: mse", "loss: binary_crossentropy", ""),
        ("rescale: 0.00392156862745098", "rescale: 1", ""),
        ("rescale: 0.00392156862745098\n", "rescale: 1\n", ""),
        ("{type: Dense, units: 96}", "{type: Dense, units: 48}", "model.layers[6] Reshape"),
        ("{type: Conv2DTranspose, filters: 3,", "{type: Conv2DTranspose, filters: 1,", "must have the input's shape (8, 6, 3)"),
        ("input_shape: [8, 6, 3]", "input_shape: [8, 8, 3]", "model.input_shape is (8, 8, 3) but the dataset's images are (8, 6, 3)"),
    ])
    func reconstructionMistakesAreLocated(_ c: (old: String, new: String, message: String)) throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        var yaml = ProductExperimentFixture.autoencoder
        let range = try #require(yaml.range(of: c.old), "fixture lacks \(c.old)")
        yaml.replaceSubrange(range, with: c.new)
        let message = error(yaml, f)
        if c.message.isEmpty {
            #expect(message == nil, "\(c.new): \(message ?? "")")  // each alone is fine
        } else {
            let m = try #require(message, "\(c.new): no error")
            #expect(m.hasPrefix("Experiments/products.yaml:"), "\(m)")
            #expect(m.contains(c.message), "\(c.new): \(m)")
        }
    }

    /// Binary cross-entropy needs targets in [0, 1]: with rescale 1 the pixels reach 255.
    @Test func binaryCrossentropyReconstructionNeedsUnitTargets() throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        let yaml = ProductExperimentFixture.autoencoder.replacingOccurrences(of: "loss: mse", with: "loss: binary_crossentropy")
            .replacingOccurrences(of: "rescale: 0.00392156862745098", with: "rescale: 1")
        let m = try #require(error(yaml, f))
        #expect(m.contains("training.loss binary_crossentropy on reconstructed inputs needs targets in [0, 1]"), "\(m)")
    }

    @Test func commandLineAssignments() throws {
        let a = try NodePatch.assignment("data.augmentation=null")
        #expect(a.path == "data.augmentation" && a.value == Node("null", Tag(.null)))
        let b = try NodePatch.assignment("data.image_size=[10, 4]")
        #expect(b.value.sequence?.count == 2)
        // Merge keys, as in a file.
        let merged = try NodePatch.assignment("model.layers[2]={<<: {type: Dense, activation: softmax}, units: 2}")
        #expect(merged.value.mapping?["type"]?.string == "Dense" && merged.value.mapping?["<<"] == nil)
        for bad in ["=3", "noequals", "a..b=1", "x=[1, 2", "x={<<: 5}"] {
            #expect(throws: PatchError.self, "\(bad)") { _ = try NodePatch.assignment(bad) }
        }
        // Through the parser: the patched values are what runs and what is recorded.
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        let e = try f.experiment(ProductExperimentFixture.classifier, patches: [
            try NodePatch.assignment("data.augmentation=null"), try NodePatch.assignment("training.epochs=3"),
            try NodePatch.assignment("data.image_size=[10, 4]"), try NodePatch.assignment("model.input_shape=[10, 4, 3]")])
        #expect(e.data.augmentation == nil && e.training.epochs == 3)
        #expect(e.data.products?.settings.height == 10 && e.data.products?.settings.width == 4)
        #expect(e.resolvedYAML.contains("epochs: 3") && !e.resolvedYAML.contains("zoom_range"))
    }

    /// 5x2cv splits one set of images, loaded as A's file says: B's own test_fraction or
    /// undersampling would silently not apply, so differing ones are refused.
    @Test func fiveByTwoNeedsTheSameImages() throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        let a = try f.experiment(ProductExperimentFixture.classifier)
        for (old, new, differs) in [("test_fraction: 0.25", "test_fraction: 0.5", "data.test_fraction differs (0.25 in tiny_products, 0.5 in tiny_products)"),
                                    ("cache: false", "cache: false\n  balance: {method: undersample, per_class: 20}",
                                     "data.balance differs (none in tiny_products, undersample to 20 per class in tiny_products)")] {
            let b = try f.experiment(ProductExperimentFixture.classifier.replacingOccurrences(of: old, with: new))
            #expect { try Compare.fiveByTwoData(a, b, limit: nil) } throws: { "\($0)".contains(differs) }
        }
        // Oversampling, which folds leave out, may differ.
        let oversampled = try f.experiment(ProductExperimentFixture.classifier.replacingOccurrences(of: "cache: false", with: "cache: false\n  balance: {method: oversample}"))
        #expect(try Compare.fiveByTwoData(a, oversampled, limit: nil).count == Compare.fiveByTwoData(a, a, limit: nil).count)
    }

    /// A small CNN learns the two generated classes; the report says what was loaded and
    /// the held-out test part is a stratified quarter.
    @Test func classifierTrainsOnProductImages() throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        let e = try f.experiment(ProductExperimentFixture.classifier)
        let r = try Runner.run(e, resultsRoot: f.results.path, log: { _ in }, liveProgress: false)
        #expect(r.classNames == ["Bottomwear", "Topwear"], "top classes by count, ties by name")
        #expect(r.truth.count == 16 && r.truth.filter { $0 == 0 }.count == 8, "stratified 25% of 2 × 30")
        let accuracy = try #require(r.testAccuracy)
        #expect(accuracy >= 0.9, "test accuracy \(accuracy)")
        let notes = try #require(r.metrics["data_notes"] as? [String])
        #expect(notes.joined(separator: "\n").contains("60 images in 2 classes (Bottomwear 30, Topwear 30)"), "\(notes)")
        #expect(notes.contains("Skipped: nothing"))
        #expect(r.metrics["data_skipped"] == nil)
        #expect(!FileManager.default.fileExists(atPath: r.directory.appendingPathComponent("data_skipped.csv").path))
        #expect(r.history.allSatisfy { $0.valAccuracy != nil }, "validation: test validates every epoch")
        let summary = try String(contentsOf: r.directory.appendingPathComponent("model_summary.txt"), encoding: .utf8)
        #expect(summary.contains("head (Dense)"))
    }

    /// The autoencoder reconstructs its input: loss falls, the test reconstruction MSE is
    /// reported, and reconstructions.png holds inputs above reconstructions.
    @Test func autoencoderReconstructsProductImages() throws {
        let f = try ProductExperimentFixture()
        defer { f.remove() }
        // Two rows the loader leaves out, listed in the run's data_skipped.csv.
        let styles = try FileHandle(forWritingTo: URL(fileURLWithPath: f.products.file("styles.csv")))
        try styles.seekToEnd()
        try styles.write(contentsOf: Data((ProductFixture.row(999, sub: "Topwear", name: "No \"image\", here") + "\n7x,short\n").utf8))
        try styles.close()
        let e = try f.experiment(ProductExperimentFixture.autoencoder)
        let plan = try RunPlan(experiment: e, loadData: true)
        #expect(plan.model.nonTrainableCount == 8, "BatchNormalization's moving mean and variance of 4 channels")
        let r = try Runner.run(plan, resultsRoot: f.results.path, log: { _ in }, liveProgress: false)
        #expect(r.testAccuracy == nil)
        #expect(r.metrics["task"] as? String == "reconstruction")
        let mse = try #require(r.testReconstructionMSE)
        #expect(abs((r.metrics["test_reconstruction_mse"] as? Double ?? -1) - mse) < 1e-12)
        #expect(mse.isFinite && mse > 0 && mse < 0.08, "test reconstruction MSE \(mse)")
        // The loss is mean squared error against the rescaled inputs, so the two agree.
        #expect(abs(r.testLoss - mse) <= 1e-4 * max(mse, 1e-3), "test loss \(r.testLoss) vs MSE \(mse)")
        #expect(r.history.last!.loss < r.history.first!.loss)
        #expect(r.history.allSatisfy { $0.accuracy == nil })

        let files = try FileManager.default.contentsOfDirectory(atPath: r.directory.path)
        for name in ["reconstructions.png", "history.csv", "metrics.json", "weights.h5"] { #expect(files.contains(name), "\(name) missing") }
        let png = try ImageFile.decode([UInt8](try Data(contentsOf: r.directory.appendingPathComponent("reconstructions.png"))))
        #expect(png.height > 2 * 8 && png.width > 6)
        let history = try String(contentsOf: r.directory.appendingPathComponent("history.csv"), encoding: .utf8)
        #expect(!history.contains("accuracy"))
        #expect(r.metrics["data_skipped"] as? Int == 2)
        let skipped = try String(contentsOf: r.directory.appendingPathComponent("data_skipped.csv"), encoding: .utf8)
        #expect(skipped == """
            kind,line,id,file,reason
            malformed_row,63,,,"2 fields, the header has 10"
            missing_image,62,999,,"images/ has no 999.jpg, .jpeg or .png"

            """, "\(skipped)")
    }
}
