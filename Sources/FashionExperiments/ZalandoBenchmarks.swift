/// Zalando's Fashion-MNIST benchmark table (the deep-learning results and human performance
/// listed in the Fashion-MNIST README), as in `Data/zalando-benchmarks.csv`; a test keeps the
/// two equal. Compiled in so a run can rank itself without finding the repository.
public enum ZalandoBenchmarks {
    public struct Entry: Sendable {
        public let classifier: String
        public let preprocessing: String
        public let testAccuracy: Double
        public var isHuman: Bool { classifier.hasPrefix("Human") }
    }

    public static let entries: [Entry] = [
        Entry(classifier: "2 Conv+pooling", preprocessing: "None", testAccuracy: 0.876),
        Entry(classifier: "2 Conv+pooling (TensorFlow tutorial)", preprocessing: "None", testAccuracy: 0.916),
        Entry(classifier: "2 Conv+pooling+ELU (PyTorch)", preprocessing: "None", testAccuracy: 0.903),
        Entry(classifier: "2 Conv", preprocessing: "normalization, random horizontal/vertical flip, translation, rotation", testAccuracy: 0.919),
        Entry(classifier: "2 Conv <100K parameters", preprocessing: "None", testAccuracy: 0.925),
        Entry(classifier: "2 Conv ~113K parameters", preprocessing: "normalization", testAccuracy: 0.922),
        Entry(classifier: "2 Conv+3 FC ~1.8M parameters", preprocessing: "normalization", testAccuracy: 0.932),
        Entry(classifier: "2 Conv+3 FC ~500K parameters", preprocessing: "augmentation, batch normalization", testAccuracy: 0.934),
        Entry(classifier: "2 Conv+pooling+BN", preprocessing: "None", testAccuracy: 0.934),
        Entry(classifier: "2 Conv+2 FC", preprocessing: "random horizontal flips", testAccuracy: 0.939),
        Entry(classifier: "3 Conv+2 FC", preprocessing: "None", testAccuracy: 0.907),
        Entry(classifier: "3 Conv+pooling+BN", preprocessing: "None", testAccuracy: 0.903),
        Entry(classifier: "3 Conv+pooling+2 FC+dropout", preprocessing: "None", testAccuracy: 0.926),
        Entry(classifier: "3 Conv+BN+pooling", preprocessing: "None", testAccuracy: 0.921),
        Entry(classifier: "5 Conv+BN+pooling", preprocessing: "None", testAccuracy: 0.931),
        Entry(classifier: "CNN with optional shortcuts (dense-like)", preprocessing: "standardization, augmentation, random erasing", testAccuracy: 0.947),
        Entry(classifier: "GRU+SVM", preprocessing: "None", testAccuracy: 0.888),
        Entry(classifier: "GRU+SVM with dropout", preprocessing: "None", testAccuracy: 0.897),
        Entry(classifier: "WRN40-4 8.9M params", preprocessing: "mean/std, random crops, horizontal flips", testAccuracy: 0.967),
        Entry(classifier: "DenseNet-BC 768K params", preprocessing: "mean/std, random crops, horizontal flips", testAccuracy: 0.954),
        Entry(classifier: "MobileNet", preprocessing: "horizontal flips", testAccuracy: 0.950),
        Entry(classifier: "ResNet18", preprocessing: "normalization, random flips, translation, rotation", testAccuracy: 0.949),
        Entry(classifier: "GoogleNet with cross-entropy loss", preprocessing: "None", testAccuracy: 0.937),
        Entry(classifier: "AlexNet with triplet loss", preprocessing: "None", testAccuracy: 0.899),
        Entry(classifier: "SqueezeNet with cyclical learning rate 200 epochs", preprocessing: "None", testAccuracy: 0.900),
        Entry(classifier: "Dual path network with WRN-28-10", preprocessing: "mean/std, random crops, horizontal flips", testAccuracy: 0.957),
        Entry(classifier: "MLP 256-128-100", preprocessing: "None", testAccuracy: 0.8833),
        Entry(classifier: "VGG16 26M parameters", preprocessing: "None", testAccuracy: 0.935),
        Entry(classifier: "WRN-28-10", preprocessing: "mean/std, random crops, horizontal flips", testAccuracy: 0.959),
        Entry(classifier: "WRN-28-10 + Random Erasing", preprocessing: "mean/std, random crops, horizontal flips", testAccuracy: 0.963),
        Entry(classifier: "Human performance (crowd-sourced)", preprocessing: "1000 test images x 3 labels", testAccuracy: 0.835),
        Entry(classifier: "Capsule Network 8M parameters", preprocessing: "normalization, shift <=2 px, horizontal flip", testAccuracy: 0.936),
        Entry(classifier: "HOG+SVM", preprocessing: "HOG", testAccuracy: 0.926),
        Entry(classifier: "XGBoost", preprocessing: "standardized pixels", testAccuracy: 0.898),
        Entry(classifier: "DENSER", preprocessing: "-", testAccuracy: 0.953),
        Entry(classifier: "Dyra-Net", preprocessing: "rescale to unit interval", testAccuracy: 0.906),
        Entry(classifier: "Google AutoML", preprocessing: "24 compute hours", testAccuracy: 0.939),
        Entry(classifier: "fastai ResNet50 fine-tuning", preprocessing: "-", testAccuracy: 0.9312),
    ]

    /// 1-based rank of an accuracy placed among the machine entries (ties share the better
    /// rank), out of those entries plus this one.
    public static func rank(of accuracy: Double) -> (rank: Int, of: Int) {
        let machines = entries.filter { !$0.isHuman }
        return (machines.filter { $0.testAccuracy > accuracy }.count + 1, machines.count + 1)
    }
}
