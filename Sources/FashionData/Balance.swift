import FashionTensor

/// Class balancing by seeded resampling.
public enum Balance: Sendable, Equatable {
    /// Every class cut to `perClass` images (default: the smallest class's count), chosen at
    /// random; smaller classes are kept whole.
    case undersample(perClass: Int?)
    /// Every class raised to `perClass` images (default: the largest class's count) by adding
    /// randomly drawn copies; larger classes are kept whole.
    case oversample(perClass: Int?)

    /// The `per_class` the experiment gave, nil for the default.
    public var perClass: Int? {
        switch self {
        case let .undersample(n), let .oversample(n): return n
        }
    }

    /// How many images `apply` returns for a set with these class counts.
    public func count(classCounts: [Int]) -> Int {
        let present = classCounts.filter { $0 > 0 }
        guard !present.isEmpty else { return 0 }
        switch self {
        case let .undersample(perClass):
            let target = perClass ?? present.min()!
            return present.reduce(0) { $0 + min($1, target) }
        case let .oversample(perClass):
            let target = perClass ?? present.max()!
            return present.reduce(0) { $0 + max($1, target) }
        }
    }

    /// The balanced set: kept images in their original order, added copies after them.
    public func apply(to set: ImageSet, seed: UInt64) -> ImageSet {
        var byClass = [[Int]](repeating: [], count: max(set.classNames.count, Int(set.labels.max() ?? 0) + 1))
        for (i, l) in set.labels.enumerated() { byClass[Int(l)].append(i) }
        let present = byClass.filter { !$0.isEmpty }
        guard !present.isEmpty else { return set }
        var generator = SeededGenerator(seed: seed, stream: "balance")
        switch self {
        case let .undersample(perClass):
            let target = perClass ?? present.map(\.count).min()!
            var keep = [Bool](repeating: false, count: set.count)
            for var members in byClass {
                generator.shuffle(&members)
                for i in members.prefix(target) { keep[i] = true }
            }
            return set.subset((0..<set.count).filter { keep[$0] })
        case let .oversample(perClass):
            let target = perClass ?? present.map(\.count).max()!
            var indices = Array(0..<set.count)
            for members in byClass where !members.isEmpty && members.count < target {
                for _ in members.count..<target { indices.append(members[generator.nextInt(below: members.count)]) }
            }
            return set.subset(indices)
        }
    }
}
