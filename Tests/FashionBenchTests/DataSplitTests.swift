import FashionData
import FashionTensor
import Testing

/// A small set whose pixel values identify the example: every pixel of example i is i, so any
/// reordering or mix-up is visible. Shape 2×2×1.
private func numbered(labels: [Int32], classes: Int = 10) -> ImageSet {
    let pixels = labels.indices.flatMap { [UInt8](repeating: UInt8($0 % 256), count: 4) }
    return ImageSet(shape: [2, 2, 1], pixels: pixels, labels: labels,
                    classNames: (0..<classes).map { "c\($0)" })
}

/// The example ids of a subset of `numbered` (needs < 256 examples).
private func ids(_ set: ImageSet) -> [Int] {
    (0..<set.count).map { Int(set.pixels[$0 * set.imageSize]) }
}

@Suite("Data: ImageSet")
struct DataImageSetTests {
    @Test func basics() {
        let set = numbered(labels: [3, 1, 4, 1, 5])
        #expect(set.count == 5)
        #expect(set.imageSize == 4)
        let sub = set.subset([4, 0, 2, 0])
        #expect(ids(sub) == [4, 0, 2, 0])
        #expect(sub.labels == [5, 3, 4, 3])
        #expect(sub.classNames == set.classNames)
        #expect(ids(set.prefix(2)) == [0, 1])
        #expect(set.prefix(2).labels == [3, 1])
        #expect(set.prefix(0).count == 0)
        #expect(set.prefix(99).count == 5)
    }

    @Test func selectingClassesRelabels() {
        let set = numbered(labels: [0, 9, 3, 9, 5, 0, 3])
        let picked = set.selectingClasses([9, 0])
        #expect(ids(picked) == [0, 1, 3, 5])  // original order kept
        #expect(picked.labels == [1, 0, 0, 1])  // 9 → 0, 0 → 1
        #expect(picked.classNames == ["c9", "c0"])
        #expect(picked.shape == set.shape)
    }

    @Test func gatherScalesAndCopiesLabels() {
        var pixels = [UInt8](repeating: 0, count: 3 * 4)
        for i in pixels.indices { pixels[i] = UInt8(i * 20) }
        let set = ImageSet(shape: [2, 2, 1], pixels: pixels, labels: [7, 8, 9], classNames: [])
        let indices = [9, 2, 0, 9]  // gather takes a slice: use the middle of an array
        var out = [Float](repeating: -1, count: 2 * 4 + 1)
        var labels = [Int32](repeating: -1, count: 3)
        out.withUnsafeMutableBufferPointer { o in
            labels.withUnsafeMutableBufferPointer { l in
                set.gather(indices[1..<3], scale: 0.5, into: o.baseAddress!, labels: l.baseAddress!)
            }
        }
        #expect(out == [80, 90, 100, 110, 0, 10, 20, 30, -1])  // nothing written past the batch
        #expect(labels == [9, 7, -1])
    }
}

@Suite("Data: splits")
struct DataSplitTests {
    @Test func firstNIsValidation() {
        let set = numbered(labels: (0..<20).map { Int32($0 % 10) })
        let (train, validation) = Split.first(6, of: set)
        #expect(ids(validation) == Array(0..<6))
        #expect(ids(train) == Array(6..<20))
        #expect(validation.labels == [0, 1, 2, 3, 4, 5])
        #expect(train.labels == (6..<20).map { Int32($0 % 10) })
        #expect(Split.first(0, of: set).validation.count == 0)
        #expect(Split.first(20, of: set).train.count == 0)
    }

    /// Class c has 10*(c+1) examples for c in 0..<4, plus single-example class 4; interleaved.
    let unbalanced: ImageSet = {
        var labels = [Int32]()
        for c in 0..<4 { labels += [Int32](repeating: Int32(c), count: 10 * (c + 1)) }
        labels.append(4)
        var generator = SeededGenerator(seed: 99)
        generator.shuffle(&labels)
        return numbered(labels: labels, classes: 5)
    }()

    @Test func stratifiedProportionsPerClass() {
        let (train, validation) = Split.stratified(fraction: 0.25, seed: 1, of: unbalanced)
        func counts(_ s: ImageSet) -> [Int] { (0..<5).map { c in s.labels.filter { $0 == c }.count } }
        // round(0.25 * 10, 20, 30, 40) = 3 (2.5 rounds up), 5, 8 (7.5), 10; the single example stays in training.
        #expect(counts(validation) == [3, 5, 8, 10, 0])
        #expect(counts(train) == [7, 15, 22, 30, 1])
    }

    @Test func stratifiedKeepsAtLeastOnePerClass() {
        let set = numbered(labels: [0, 0, 0, 1, 1, 2])
        let (train, validation) = Split.stratified(fraction: 0.01, seed: 5, of: set)
        #expect(validation.labels.sorted() == [0, 1])  // class 2 has one example: none taken
        #expect(train.count == 4)
        #expect(Split.stratified(fraction: 0, seed: 5, of: set).validation.count == 0)
    }

    @Test func stratifiedIsAPartitionInOriginalOrder() {
        let (train, validation) = Split.stratified(fraction: 0.3, seed: 7, of: unbalanced)
        let t = ids(train), v = ids(validation)
        #expect(Set(t).isDisjoint(with: v))
        #expect(Set(t).union(v) == Set(0..<unbalanced.count))
        #expect(t.count + v.count == unbalanced.count)
        #expect(t == t.sorted())
        #expect(v == v.sorted())
        // Labels travel with their images.
        #expect(train.labels == t.map { unbalanced.labels[$0] })
        #expect(validation.labels == v.map { unbalanced.labels[$0] })
    }

    @Test func stratifiedIsDeterministicPerSeed() {
        let a = Split.stratified(fraction: 0.2, seed: 42, of: unbalanced)
        let b = Split.stratified(fraction: 0.2, seed: 42, of: unbalanced)
        let c = Split.stratified(fraction: 0.2, seed: 43, of: unbalanced)
        #expect(ids(a.validation) == ids(b.validation))
        #expect(ids(a.train) == ids(b.train))
        #expect(ids(a.validation) != ids(c.validation))
        #expect(a.validation.labels.sorted() == c.validation.labels.sorted())  // same per-class counts
    }
}
