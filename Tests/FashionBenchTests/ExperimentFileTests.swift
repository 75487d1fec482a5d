import Foundation
import Testing
import FashionConfig
import FashionExperiments
import FashionData
import Yams

/// Experiment files: every mistake is one line naming the file, the line and the key path.
@Suite struct ExperimentFileTests {
    static let valid = """
    name: tiny
    seed: 3
    data:
      validation: first 100
    model:
      input_shape: [28, 28, 1]
      layers:
        - {type: Conv2D, filters: 4, kernel_size: 3, activation: relu}
        - {type: MaxPooling2D, pool_size: 2}
        - type: Flatten
        - {type: Dense, units: 10, activation: softmax}
    training:
      epochs: 2
      batch_size: 16
      optimizer: {name: rmsprop, learning_rate: 0.0001}
      loss: categorical_crossentropy
      callbacks:
        - {type: EarlyStopping, monitor: val_accuracy, patience: 2}
    """

    func parseError(_ yaml: String, file: String = "Experiments/x.yaml") -> String? {
        do {
            let e = try Experiment.parse(yaml: yaml, file: file)
            _ = try RunPlan(experiment: e, loadData: false)
            return nil
        } catch let e as ConfigError {
            return e.description
        } catch {
            return "unexpected error type: \(error)"
        }
    }

    /// Replaces the first occurrence of `old` in the valid file.
    func mutated(_ old: String, _ new: String) -> String {
        precondition(Self.valid.contains(old), "fixture lacks \(old)")
        return Self.valid.replacingOccurrences(of: old, with: new, options: [], range: Self.valid.range(of: old))
    }

    @Test func validFileParsesWithDefaultsFilledIn() throws {
        let e = try Experiment.parse(yaml: Self.valid, file: "Experiments/tiny.yaml")
        #expect(e.name == "tiny")
        #expect(e.seed == 3)
        #expect(e.data.validation == .first(100))
        #expect(e.training.epochs == 2)
        #expect(e.training.batchSize == 16)
        #expect(e.training.optimizerName == "rmsprop")
        #expect(abs(e.training.learningRate - 1e-4) < 1e-9)
        if case let .earlyStopping(s)? = e.training.callbacks.first?.kind { #expect(s.patience == 2) } else { Issue.record("no EarlyStopping") }
        // Every default is written out, and the resolved file reads back to the same experiment.
        for key in ["strides: 1", "padding: valid", "shuffle: true", "beta_1", "rho: 0.9", "min_delta", "restore_best_weights: false", "rescale"] {
            #expect(e.resolvedYAML.contains(key) || key == "beta_1", "resolved YAML lacks \(key)")
        }
        let again = try Experiment.parse(yaml: e.resolvedYAML, file: "resolved.yaml")
        #expect(again.resolvedYAML == e.resolvedYAML)
        let plan = try RunPlan(experiment: e, loadData: false)
        #expect(plan.model.parameterCount == (3 * 3 * 1 * 4 + 4) + (13 * 13 * 4 * 10 + 10))
    }

    @Test func overridesReachTheResolvedFile() throws {
        let e = try Experiment.parse(yaml: Self.valid, file: "t.yaml", overrides: Overrides(epochs: 7, seed: 11, limit: 500))
        #expect(e.training.epochs == 7 && e.seed == 11 && e.data.limit == 500)
        #expect(e.resolvedYAML.contains("epochs: 7"))
        #expect(e.resolvedYAML.contains("seed: 11"))
        #expect(e.resolvedYAML.contains("limit: 500"))
    }

    @Test func theIssueExampleMessage() {
        let yaml = mutated("- {type: Dense, units: 10, activation: softmax}", "- {type: Conv2D, filters: -4, kernel_size: 2}")
        #expect(parseError(yaml) == "Experiments/x.yaml:11: model.layers[3].filters must be a positive integer, got -4")
    }

    @Test(arguments: [
        // (old, new, expected line, expected fragment)
        ("seed: 3", "seeds: 3", 2, "seeds is not a known key"),
        ("seed: 3", "seed: -1", 2, "seed must be a non-negative integer, got -1"),
        ("seed: 3", "seed: three", 2, "seed must be a non-negative integer, got the string \"three\""),
        ("validation: first 100", "validation: first abc", 4, "data.validation must be `first N`"),
        ("validation: first 100", "validation: 1.5", 4, "data.validation must be"),
        ("validation: first 100", "validation: none", 18, "training.callbacks[0].monitor is val_accuracy but there is no validation set"),
        ("validation: first 100", "validaton: first 100", 4, "data.validaton is not a known key"),
        ("input_shape: [28, 28, 1]", "input_shape: [28, 28, 0]", 6, "model.input_shape[2] must be a positive integer, got 0"),
        ("filters: 4", "filters: 4.5", 8, "model.layers[0].filters must be a positive integer, got 4.5"),
        ("filters: 4", "filters: \"4\"", 8, "model.layers[0].filters must be a positive integer, got the string \"4\""),
        ("kernel_size: 3", "kernel_size: [3, 3, 3]", 8, "model.layers[0].kernel_size must be an integer or a list of two integers"),
        ("activation: relu}", "activation: relux}", 8, "model.layers[0].activation must be one of"),
        ("activation: relu}", "activation: relu, padding: full}", 8, "model.layers[0].padding must be one of valid, same, got the string \"full\""),
        ("activation: relu}", "activation: relu, dilation_rate: 2}", 8, "model.layers[0].dilation_rate is not a known key"),
        ("{type: MaxPooling2D, pool_size: 2}", "{type: MaxPool2D, pool_size: 2}", 9, "model.layers[1].type must be one of"),
        ("{type: MaxPooling2D, pool_size: 2}", "{type: Dropout, rate: 1.0}", 9, "model.layers[1].rate must be a number ≥ 0.0 and < 1.0, got 1.0"),
        ("{type: MaxPooling2D, pool_size: 2}", "{type: Dropout}", 9, "model.layers[1].rate is required"),
        ("- type: Flatten", "- type: 7", 10, "model.layers[2].type must be a string, got 7"),
        ("units: 10, activation: softmax", "units: 0, activation: softmax", 11, "model.layers[3].units must be a positive integer, got 0"),
        ("epochs: 2", "epochs: 0", 13, "training.epochs must be a positive integer, got 0"),
        ("epochs: 2", "epochs: true", 13, "training.epochs must be a positive integer, got the boolean true"),
        ("batch_size: 16", "batch_size: 1e9", 14, "training.batch_size must be a positive integer, got 1e9"),
        ("batch_size: 16", "batch_size: 70000", 14, "training.batch_size must be at most 65536, got 70000"),
        ("name: rmsprop", "name: sgd", 15, "training.optimizer.name must be one of adam, rmsprop, got the string \"sgd\""),
        ("optimizer: {name: rmsprop, learning_rate: 0.0001}", "optimizer: sgd", 15, "training.optimizer.name must be one of adam, rmsprop"),
        ("learning_rate: 0.0001", "learning_rate: -0.1", 15, "training.optimizer.learning_rate must be a number > 0.0, got -0.1"),
        ("learning_rate: 0.0001", "momentum: 0.9", 15, "training.optimizer.momentum is not a known key"),
        ("loss: categorical_crossentropy", "loss: hinge", 16, "training.loss must be one of"),
        ("monitor: val_accuracy", "monitor: val_acc", 18, "training.callbacks[0].monitor must be one of"),
        ("patience: 2", "patience: -2", 18, "training.callbacks[0].patience must be a non-negative integer, got -2"),
        ("EarlyStopping", "LearningRateScheduler", 18, "training.callbacks[0].type must be one of EarlyStopping, ReduceLROnPlateau, ModelCheckpoint"),
        ("EarlyStopping, monitor", "ReduceLROnPlateau, factor: 1.5, monitor", 18, "training.callbacks[0].factor must be a number > 0.0 and < 1.0, got 1.5"),
        ("EarlyStopping, monitor", "ModelCheckpoint, save_best_only: 1, monitor", 18, "training.callbacks[0].save_best_only must be true or false, got 1"),
        ("patience: 2}", "patience: 2}\n  init_from: 7", 19, "training.init_from must be a string, got 7"),
        ("patience: 2}", "patience: 2}\n    - {type: ModelCheckpoint}\n    - {type: ModelCheckpoint, monitor: val_loss}", 20,
         "training.callbacks[2] is a second ModelCheckpoint (the first is training.callbacks[1])"),
        ("loss: categorical_crossentropy", "loss: mse\n  from_logits: true", 17, "training.from_logits is true, but mse takes the outputs as they are"),
        ("epochs: 2", "epochs: !!float 2", 13, "training.epochs must be a positive integer, got 2 (tagged !!float)"),
        ("batch_size: 16", "batch_size: 16\n  epochs: 3\n  batch_size: 8", 15, "training.epochs appears twice (first on line 13)"),
        ("input_shape: [28, 28, 1]", "input_shape: [28, 28, 1]\n  <<: 3", 7, "model.<< (a merge key) takes a mapping or a list of mappings"),
        ("seed: 3", "seed: 3\nseed: 4", 3, "seed appears twice (first on line 2)"),
        // A misspelt required key is named at its own line, beside the key it was meant to be.
        ("units: 10, activation: softmax", "unit: 10, activation: softmax", 11,
         "model.layers[3].unit is not a known key; did you mean units? (model.layers[3].units is required"),
        ("validation: first 100", "validaton: first 100", 4, "data.validaton is not a known key; did you mean validation?"),
        ("model:\n", "modle:\n", 5, "modle is not a known key; did you mean model? (model is required"),
        ("filters: 4", "Filters: 4", 8, "model.layers[0].Filters is not a known key; did you mean filters?"),
    ])
    func mutationsAreLocated(_ c: (String, String, Int, String)) {
        let message = parseError(mutated(c.0, c.1))
        #expect(message?.hasPrefix("Experiments/x.yaml:\(c.2): ") == true, "\(c.1) → \(message ?? "no error")")
        #expect(message?.contains(c.3) == true, "\(c.1) → \(message ?? "no error")")
        #expect(message?.contains("\n") == false)
    }

    /// Two repeated keys: the first is named with its whole path (the tree is found by
    /// renaming both repeats).
    @Test func twoRepeatedKeysNameTheFirstWithItsPath() {
        let yaml = mutated("batch_size: 16", "batch_size: 16\n  batch_size: 8") + "\nreference:\n  notes: a\n  notes: b\n"
        #expect(parseError(yaml) == "Experiments/x.yaml:15: training.batch_size appears twice (first on line 14)")
        // Yams reports the nested mapping's repeat first; the earlier one in the file is named.
        let both = mutated("seed: 3", "seed: 3\nseed: 4").replacingOccurrences(of: "batch_size: 16", with: "batch_size: 16\n  batch_size: 8")
        #expect(parseError(both) == "Experiments/x.yaml:3: seed appears twice (first on line 2)")
    }

    /// YAML 1.1 merge keys, as PyYAML reads them: the mapping's own keys win.
    @Test func mergeKeysMergeAndOwnKeysWin() throws {
        let yaml = mutated("- {type: Dense, units: 10, activation: softmax}",
                           "- &dense {type: Dense, units: 10, activation: softmax}\n    - {<<: *dense, units: 10, activation: softmax}")
            .replacingOccurrences(of: "- &dense {type: Dense, units: 10, activation: softmax}", with: "- &dense {type: Dense, units: 32, activation: relu}")
        let e = try Experiment.parse(yaml: yaml, file: "Experiments/x.yaml")
        #expect(e.model.layers.map(\.type) == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"])
        #expect(e.resolvedYAML.contains("units: 32") && e.resolvedYAML.contains("units: 10"))
        #expect(parseError(yaml) == nil)
    }

    /// What `check` knows of Fashion-MNIST without reading it: 28x28x1 images, 6,000 training
    /// images a class.
    @Test func checkKnowsFashionMNISTSizes() throws {
        func knownDataError(_ yaml: String) -> String? {
            do { try RunPlan.checkKnownData(try Experiment.parse(yaml: yaml, file: "Experiments/x.yaml")); return nil } catch { return "\(error)" }
        }
        #expect(knownDataError(Self.valid) == nil)
        #expect(knownDataError(mutated("[28, 28, 1]", "[32, 32, 1]")) == "Experiments/x.yaml:6: model.input_shape is (32, 32, 1) but the dataset's images are (28, 28, 1)")
        #expect(knownDataError(mutated("first 100", "first 60000")) == "Experiments/x.yaml:4: data.validation takes the first 60000 examples but the training set has only 60000")
        #expect(knownDataError(mutated("first 100", "first 12000\n  classes: [2, 3]")) == "Experiments/x.yaml:4: data.validation takes the first 12000 examples but the training set has only 12000")
        #expect(knownDataError(mutated("first 100", "first 11999\n  classes: [2, 3]")) == nil)
    }

    /// A mistake between keys is the `--set`'s that made it, found by checking the file
    /// without that --set: a patched layer type against the file's keys of the layer, a
    /// patched unit count against the classes, a patched loss against the output layer, and
    /// two patches together.
    @Test func mistakesBetweenKeysNameTheSetThatMadeThem() throws {
        func error(_ sets: [String]) -> String {
            do {
                let patches = try sets.map { try NodePatch.assignment($0) }
                let e = try Experiment.parse(yaml: Self.valid, file: "Experiments/x.yaml", patches: patches.map { ($0.path, $0.value) },
                                             patchOrigins: sets.map { "--set \($0)" })
                _ = try RunPlan(experiment: e, loadData: false)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(error(["model.layers[1].type=Flatten"]).hasPrefix("--set model.layers[1].type=Flatten: model.layers[1].pool_size is not a known key"))
        #expect(error(["model.layers[1].type=Dropout"]).hasPrefix("--set model.layers[1].type=Dropout: model.layers[1].rate is required"))
        #expect(error(["model.layers[3].units=5"]) == "--set model.layers[3].units=5: model.layers[3] outputs 5 values but the dataset has 10 classes (applied to Experiments/x.yaml)")
        #expect(error(["training.epochs=3", "training.loss=binary_crossentropy"]).hasPrefix("--set training.loss=binary_crossentropy: model.layers[3] Dense"))
        // A 10x10 kernel leaves 19x19, which a 20x20 pool does not fit; either alone fits.
        #expect(error(["model.layers[0].kernel_size=10", "model.layers[1].pool_size=20", "training.epochs=3"])
            .hasPrefix("--set model.layers[0].kernel_size=10, --set model.layers[1].pool_size=20: model.layers[1] "))
        // A file's own mistake whose wording a --set changes (the known keys, the class
        // count) stays the file's.
        let bogus = mutated("learning_rate: 0.0001}", "learning_rate: 0.0001, bogus: 1}")
        func error(_ yaml: String, _ sets: [String]) -> String {
            do {
                let patches = try sets.map { try NodePatch.assignment($0) }
                let e = try Experiment.parse(yaml: yaml, file: "Experiments/x.yaml", patches: patches.map { ($0.path, $0.value) },
                                             patchOrigins: sets.map { "--set \($0)" })
                do { try RunPlan.checkKnownData(e) } catch let c as ConfigError { throw e.attributing(c) }
                _ = try RunPlan(experiment: e, loadData: false)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(error(bogus, ["training.optimizer.name=adam"]).hasPrefix("Experiments/x.yaml:15: training.optimizer.bogus is not a known key"))
        let seven = mutated("units: 10, activation: softmax", "units: 7, activation: softmax")
        #expect(error(seven, ["data.classes=[0, 1, 2]"]).hasPrefix("Experiments/x.yaml:11: model.layers[3] outputs 7 values but the dataset has 3 classes"))
        // A --set that mends another mistake of the file is not named for this one.
        let twoMistakes = mutated("first 100", "first -5").replacingOccurrences(of: "softmax}", with: "linear}")
            .replacingOccurrences(of: "loss: categorical_crossentropy", with: "loss: categorical_crossentropy\n  from_logits: true")
        #expect(error(twoMistakes, ["data.validation=first 100", "training.loss=mse"]).hasPrefix("--set training.loss=mse: training.from_logits is true"))
        // The same --set twice: each alone makes it, so both are named.
        #expect(error(Self.valid, ["data.classes=[0, 1, 2]", "data.classes=[0, 1, 2]"])
            .hasPrefix("--set data.classes=[0, 1, 2], --set data.classes=[0, 1, 2]: model.layers[3] outputs 10 values but the dataset has 3 classes"))
        // Found by Fashion-MNIST's known sizes: 12,000 training images of two classes.
        let twoClasses = mutated("first 100", "first 12000").replacingOccurrences(of: "units: 10", with: "units: 2")
        #expect(error(twoClasses, ["data.classes=[0, 1]"]).hasPrefix("--set data.classes=[0, 1]: data.validation takes the first 12000 examples"))

        // The file's own mistake stays the file's, at its line.
        let fileMistake = mutated("units: 10, activation: softmax", "units: 7, activation: softmax")
        let e = try Experiment.parse(yaml: fileMistake, file: "Experiments/x.yaml", patches: [("training.epochs", .init("3"))], patchOrigins: ["--set training.epochs=3"])
        #expect(throws: ConfigError(file: "Experiments/x.yaml", line: 11, path: "model.layers[3]", message: "outputs 7 values but the dataset has 10 classes")) {
            _ = try RunPlan(experiment: e, loadData: false)
        }
    }

    @Test func shapeErrorsNameTheLayerLineAndShapes() {
        let yaml = mutated("{type: MaxPooling2D, pool_size: 2}", "{type: MaxPooling2D, pool_size: 40}")
        let message = parseError(yaml) ?? ""
        #expect(message.hasPrefix("Experiments/x.yaml:9: model.layers[1] MaxPooling2D"), "\(message)")
        #expect(message.contains("pool 40x40") && message.contains("(26, 26, 4)"), "\(message)")
    }

    @Test func outputMustMatchTheClasses() {
        let message = parseError(mutated("units: 10, activation: softmax", "units: 7, activation: softmax")) ?? ""
        #expect(message.hasPrefix("Experiments/x.yaml:11: model.layers[3]"), "\(message)")
        #expect(message.contains("7") && message.contains("10 classes"), "\(message)")
    }

    @Test func lossNeedsItsOutputActivation() {
        let message = parseError(mutated("units: 10, activation: softmax", "units: 10, activation: relu")) ?? ""
        #expect(message.hasPrefix("Experiments/x.yaml:11: model.layers[3]"), "\(message)")
        #expect(message.contains("softmax"), "\(message)")
    }

    @Test func malformedDocuments() {
        let cases: [(String, Int, String)] = [
            ("", 1, "is empty"),
            ("- a\n- b\n", 1, "must be a mapping"),
            ("name: x\nmodel:\n  layers: [\n", 4, "is not valid YAML"),
            ("name: x\nmodel: {layers: [{type: Flatten}]}\nname: y\n", 3, "name appears twice (first on line 1)"),
            // A repeated key is named by its path and found in its own mapping, not at the
            // next line that happens to hold the same key.
            ("model:\n  layers:\n    - type: Dense\n      units: 3\n    - type: Dense\n      units: 4\n      units: 5\n", 7,
             "model.layers[1].units appears twice (first on line 6)"),
            ("model:\n  layers:\n    - {type: Dense, units: 3}\n    - {type: Dense,\n       units: 4, \"units\": 5}\n", 5,
             "model.layers[1].units appears twice (first on line 5)"),
            ("model:\r\n  model: 1\r\n  input_shape: [1]\r\n  input_shape: [2]\r\n", 4, "model.input_shape appears twice (first on line 3)"),
            ("name: x\n", 1, "model is required"),
            ("model:\n  layers: []\n", 2, "model.layers must list at least one layer"),
            ("model:\n  layers: {type: Dense}\n", 2, "model.layers must be a list"),
            ("model:\n  layers:\n    - Dense\n", 3, "model.layers[0] must be a mapping"),
            ("name: \"../../etc\"\nmodel: {layers: [{type: Flatten}]}\n", 1, "name must be"),
            ("\tname: x\n", 1, "is not valid YAML"),
            ("name: x\nmodel: {layers: [{type: Flatten}]}\ndescription: a\u{0}b\n", 3, "is not valid YAML: control characters are not allowed (character U+0000)"),
        ]
        for (yaml, line, fragment) in cases {
            let message = parseError(yaml) ?? "no error"
            #expect(message.hasPrefix("Experiments/x.yaml:\(line): "), "\(yaml.debugDescription) → \(message)")
            #expect(message.contains(fragment), "\(yaml.debugDescription) → \(message)")
            #expect(!message.contains("\n"))
        }
    }

    /// "Billion laughs": nine lines of aliases of aliases expand to 10⁹ values. Refused at
    /// once, in an experiment, a sweep and a --set value, instead of being expanded.
    @Test func aliasBombsAreRefused() throws {
        var bomb = "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n"
        for i in 1...8 { bomb += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let started = Date()
        let message = parseError("name: x\n" + bomb + "model: {layers: [{type: Flatten}]}\n") ?? "no error"
        #expect(message.hasPrefix("Experiments/x.yaml:") && message.contains("holds more than 100000 values (counting every alias as the values it stands for)"), "\(message)")

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-bomb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sweep = dir.appendingPathComponent("sweep.yaml")
        try ("name: s\nbase: \(root.path)/Experiments/model_2.yaml\nanchors:\n"
             + bomb.split(separator: "\n").map { "  \($0)\n" }.joined()
             + "grid:\n  training.epochs: [1, 2]\n  description: *l8\n").write(to: sweep, atomically: true, encoding: .utf8)
        do {
            _ = try Sweep.load(file: sweep.path)
            Issue.record("sweep loaded")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix(sweep.path + ":") && e.description.contains("holds more than"), "\(e)")
        }
        #expect(throws: PatchError.self) {
            _ = try NodePatch.assignment("description=[&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d], [*e, *e]]")
        }
        #expect(Date().timeIntervalSince(started) < 30, "refused without expanding")
    }

    @Test func aMissingFileIsNamed() {
        do {
            _ = try Experiment.load(file: "/nonexistent/dir/x.yaml")
            Issue.record("no error")
        } catch let e as ConfigError {
            #expect(e.description.hasPrefix("/nonexistent/dir/x.yaml:"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// The YAML tag decides a shift range's form, as the Python type does for Keras.
    @Test func shiftRangesKeepTheirForm() throws {
        func augmentation(_ text: String) throws -> AugmentationSettings? {
            try Experiment.parse(yaml: mutated("validation: first 100", "validation: first 100\n  augmentation: {\(text)}"),
                                 file: "Experiments/x.yaml").data.augmentation
        }
        let ints = try #require(try augmentation("width_shift_range: 2, height_shift_range: 3.0"))
        #expect(ints.widthShiftRange == .integers(2) && ints.heightShiftRange == .uniform(3))
        let lists = try #require(try augmentation("width_shift_range: [0.1, 0.2], height_shift_range: [-2, 2]"))
        #expect(lists.widthShiftRange == .list([0.1, 0.2]) && lists.heightShiftRange == .list([-2, 2]))
        let e = try Experiment.parse(yaml: mutated("validation: first 100", "validation: first 100\n  augmentation: {width_shift_range: 2, height_shift_range: 0.5}"),
                                     file: "Experiments/x.yaml")
        let again = try Experiment.parse(yaml: e.resolvedYAML, file: "resolved.yaml")
        #expect(again.data.augmentation?.widthShiftRange == .integers(2) && again.data.augmentation?.heightShiftRange == .uniform(0.5))
        for (bad, got) in [("width_shift_range: -1", "got -1"), ("width_shift_range: []", "got a list"),
                           ("height_shift_range: [0.1, x]", "got a list"), ("height_shift_range: .inf", "got .inf"),
                           ("width_shift_range: wide", "got the string \"wide\"")] {
            let message = parseError(mutated("validation: first 100", "validation: first 100\n  augmentation: {\(bad)}")) ?? "no error"
            let key = bad.prefix { $0 != ":" }
            #expect(message.hasPrefix("Experiments/x.yaml:5: data.augmentation.\(key) must be a float r ≥ 0"), "\(message)")
            #expect(message.hasSuffix(got), "\(message)")
        }
    }

    @Test func shippedExperimentsReproduceSeed000() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let m1 = try Experiment.load(file: root.appendingPathComponent("Experiments/model_1.yaml").path)
        let m2 = try Experiment.load(file: root.appendingPathComponent("Experiments/model_2.yaml").path)
        for e in [m1, m2] {
            #expect(e.data.validation == .first(6000))
            #expect(e.training.batchSize == 64 && e.training.epochs == 10)
            #expect(e.training.optimizerName == "adam" && abs(e.training.learningRate - 1e-3) < 1e-9)
            #expect(e.reference.contains { $0.0 == "validation_accuracy" })
        }
        // model_3: model_2 continued from its trained weights, with seed 000's augmentation.
        let m3 = try Experiment.load(file: root.appendingPathComponent("Experiments/model_3.yaml").path)
        #expect(m3.training.initFrom == "model_2" && m3.training.batchSize == 30 && m3.training.epochs == 30)
        let a = try #require(m3.data.augmentation)
        #expect(a.rotationRange == 50 && a.widthShiftRange == .uniform(0.2) && a.heightShiftRange == .uniform(0.3) && a.shearRange == 0.2)
        #expect(abs(a.zoomRange.lo - 0.6) < 1e-12 && abs(a.zoomRange.hi - 1.4) < 1e-12 && a.horizontalFlip && !a.verticalFlip)
        #expect(try RunPlan(experiment: m3, loadData: false).model.parameterCount == 412_778)
        #expect(try RunPlan(experiment: m1, loadData: false).model.parameterCount == 203_530)
        #expect(try RunPlan(experiment: m2, loadData: false).model.parameterCount == 412_778)
    }

    /// The papers' printed parameter counts (issue: 48,146,842; 701,161; 146,566; 7,699,091
    /// with 448 non-trainable), and each file's data and training settings.
    @Test(arguments: [("model_4", 48_146_842, 0), ("category_cnn_80", 701_161, 0), ("category_cnn_60", 146_566, 0),
                      ("conv_autoencoder", 7_699_091, 448)])
    func shippedExperimentsHaveThePapersParameterCounts(_ c: (name: String, params: Int, nonTrainable: Int)) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let e = try Experiment.load(file: root.appendingPathComponent("Experiments/\(c.name).yaml").path)
        let plan = try RunPlan(experiment: e, loadData: false)
        #expect(plan.model.parameterCount == c.params && plan.model.nonTrainableCount == c.nonTrainable)
        let digits = Array(String(c.params))
        let grouped = String(digits.enumerated().flatMap { i, d in (i > 0 && (digits.count - i) % 3 == 0) ? [",", d] : [d] })
        let summary = plan.model.summary(title: e.name)
        #expect(summary.contains("Total params: \(grouped)\n") && summary.contains("Non-trainable params: \(c.nonTrainable)\n"), "\(summary)")
        switch c.name {
        case "model_4":
            #expect(e.training.loss == "binary_crossentropy" && e.training.optimizerName == "rmsprop" && e.training.batchSize == 96)
            #expect(abs(e.training.learningRate - 1e-4) < 1e-9 && e.training.epochs == 50)
            // Raw 0..255 pixels, as the paper's notebook trained it (Experiments/model_4.yaml).
            #expect(e.data.rescale == 1 && e.data.validation == .first(6000))
        case "category_cnn_80":
            #expect(e.data.expectedClasses == 9 && e.data.products?.settings.height == 80 && e.data.products?.settings.width == 80)
            #expect(e.training.batchSize == 500 && e.data.validation == .test && e.data.augmentation?.zoomRange.hi == 1.1)
        case "category_cnn_60":
            #expect(e.data.expectedClasses == 6 && e.training.batchSize == 32 && e.training.callbacks.count == 3)
            #expect(e.data.products?.balance == .undersample(perClass: 460))
        default:
            #expect(e.training.targets == "inputs" && e.training.loss == "mean_squared_error" && e.training.batchSize == 32)
            #expect(plan.model.layers.contains { $0.name == "latent_space" })
        }
    }
}
