import Foundation

/// An in-memory labelled image set, pixels kept as uint8 (scaling happens when a batch is gathered).
///
/// Keeping uint8 rather than float32 makes the 60k-image training set 47 MB instead of 188 MB and
/// lets each experiment choose its own scaling (1/255, raw 0…255, …) at batch time.
public struct ImageSet: Sendable {
    /// The size of `images` images of `imageBytes` bytes each ("3662.1 GiB", or "more than
    /// Int.max bytes") when they would take more than half of this machine's memory, else nil:
    /// a set that large is refused before it is allocated.
    public static func sizeBeyondHalfMemory(images: Int, imageBytes: Int) -> String? {
        let (bytes, overflow) = images.multipliedReportingOverflow(by: imageBytes)
        if overflow { return "more than Int.max bytes" }
        guard UInt64(bytes) > ProcessInfo.processInfo.physicalMemory / 2 else { return nil }
        return String(format: "%.1f GiB", Double(bytes) / 1_073_741_824)
    }

    public var shape: [Int]            // per image: [height, width, channels]
    public var pixels: [UInt8]         // count * height*width*channels, NHWC
    public var labels: [Int32]
    public var classNames: [String]

    public var count: Int { labels.count }
    public var imageSize: Int { shape.reduce(1, *) }

    /// Images per class, in class order.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classNames.count)
        for l in labels { counts[Int(l)] += 1 }
        return counts
    }

    public init(shape: [Int], pixels: [UInt8], labels: [Int32], classNames: [String]) {
        precondition(shape.allSatisfy { $0 > 0 }, "ImageSet: image shape \(shape) must be positive")
        precondition(pixels.count == labels.count * shape.reduce(1, *),
                     "ImageSet: \(pixels.count) pixels do not fill \(labels.count) images of shape \(shape)")
        self.shape = shape
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// The images at `indices`, in the order of `indices` (repeats allowed).
    public func subset(_ indices: [Int]) -> ImageSet {
        let size = imageSize
        let n = count
        var newLabels = [Int32]()
        newLabels.reserveCapacity(indices.count)
        let newPixels = [UInt8](unsafeUninitializedCapacity: indices.count * size) { dst, initialized in
            pixels.withUnsafeBufferPointer { src in
                var out = dst.baseAddress!
                for i in indices {
                    precondition(i >= 0 && i < n, "ImageSet.subset: index \(i) out of 0..<\(n)")
                    // Whole-image memcpy: subsets of the 60k set are taken once per split, keep it cheap.
                    out.update(from: src.baseAddress! + i * size, count: size)
                    out += size
                    newLabels.append(labels[i])
                }
            }
            initialized = indices.count * size
        }
        return ImageSet(shape: shape, pixels: newPixels, labels: newLabels, classNames: classNames)
    }

    /// The first `n` images (all of them if `n >= count`).
    public func prefix(_ n: Int) -> ImageSet {
        let k = max(0, min(n, count))
        return ImageSet(shape: shape, pixels: Array(pixels[0..<(k * imageSize)]),
                        labels: Array(labels[0..<k]), classNames: classNames)
    }

    /// This set's images, then `other`'s, whose classes follow this set's (its labels shifted).
    public func appending(_ other: ImageSet) -> ImageSet {
        precondition(other.shape == shape, "appending images of shape \(other.shape) to \(shape)")
        let offset = Int32(classNames.count)
        return ImageSet(shape: shape, pixels: pixels + other.pixels, labels: labels + other.labels.map { $0 + offset },
                        classNames: classNames + other.classNames)
    }

    /// Keep only the given classes (original class ids) and relabel them 0..<k in the given order; classNames follow.
    /// Examples keep their original relative order.
    public func selectingClasses(_ classes: [Int]) -> ImageSet {
        precondition(Set(classes).count == classes.count, "selectingClasses: duplicate class in \(classes)")
        var newID = [Int32: Int32]()
        for (k, c) in classes.enumerated() { newID[Int32(c)] = Int32(k) }
        var keep = [Int]()
        for i in 0..<count where newID[labels[i]] != nil { keep.append(i) }
        var result = subset(keep)
        result.labels = result.labels.map { newID[$0]! }
        // A class id without a name (label beyond classNames) still gets a usable name.
        result.classNames = classes.map { $0 >= 0 && $0 < classNames.count ? classNames[$0] : "class \($0)" }
        return result
    }

    /// Writes images[indices] as float32 scaled by `scale` into `into` (count = indices.count*imageSize) and labels into `labels`.
    /// Called once per mini-batch, so it is a plain pointer loop with no allocation.
    public func gather(_ indices: ArraySlice<Int>, scale: Float, into: UnsafeMutablePointer<Float>,
                       labels: UnsafeMutablePointer<Int32>) {
        let size = imageSize
        let n = count
        pixels.withUnsafeBufferPointer { src in
            self.labels.withUnsafeBufferPointer { srcLabels in
                var out = into
                var k = 0
                for i in indices {
                    precondition(i >= 0 && i < n, "ImageSet.gather: index \(i) out of 0..<\(n)")
                    let image = src.baseAddress! + i * size
                    for j in 0..<size { out[j] = Float(image[j]) * scale }
                    out += size
                    labels[k] = srcLabels[i]
                    k += 1
                }
            }
        }
    }
}
