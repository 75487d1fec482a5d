import FashionTensor

/// Train/validation splits of an ImageSet.
public enum Split {
    /// Keras/seed-000 style: the FIRST n examples are validation, the rest training.
    /// `n` must be in 0...set.count (a larger n is a configuration error, not something to clamp silently).
    public static func first(_ n: Int, of set: ImageSet) -> (train: ImageSet, validation: ImageSet) {
        precondition(n >= 0 && n <= set.count, "Split.first: \(n) validation examples requested from \(set.count)")
        return (set.subset(Array(n..<set.count)), set.prefix(n))
    }

    /// Stratified, seeded: from each class, round(fraction * classCount) examples (at least 1 if the class has ≥2 examples) go to validation, chosen by a seeded shuffle; both parts keep the original relative order. Deterministic for a seed.
    /// Rounding is half away from zero; the "at least 1" rule applies only when fraction > 0.
    /// Classes are visited in ascending label order with one generator, so the split depends only on
    /// (seed, labels).
    /// `stream` names an independent random stream (the test split and the validation split of
    /// one experiment must not draw the same numbers); nil is the validation split's stream.
    /// How many of a class of `count` images the stratified split holds out: the nearest whole
    /// share, at least one of a class of two or more.
    public static func heldOut(fraction: Double, of count: Int) -> Int {
        var k = Int((fraction * Double(count)).rounded(.toNearestOrAwayFromZero))
        if fraction > 0 && count >= 2 { k = max(k, 1) }
        return min(k, count)
    }

    public static func stratified(fraction: Double, seed: UInt64, stream: String? = nil, of set: ImageSet) -> (train: ImageSet, validation: ImageSet) {
        precondition(fraction >= 0 && fraction <= 1, "Split.stratified: fraction \(fraction) not in 0...1")
        var byClass = [Int32: [Int]]()
        for (i, label) in set.labels.enumerated() { byClass[label, default: []].append(i) }

        var generator = stream.map { SeededGenerator(seed: seed, stream: $0) } ?? SeededGenerator(seed: seed)
        var isValidation = [Bool](repeating: false, count: set.count)
        for label in byClass.keys.sorted() {
            var members = byClass[label]!
            let k = heldOut(fraction: fraction, of: members.count)
            generator.shuffle(&members)
            for i in members.prefix(k) { isValidation[i] = true }
        }
        // Collect by walking 0..<count so both parts keep the original relative order.
        var train = [Int](), validation = [Int]()
        for i in 0..<set.count {
            if isValidation[i] { validation.append(i) } else { train.append(i) }
        }
        return (set.subset(train), set.subset(validation))
    }
}
