import Dispatch
import FashionTensor
import FashionData

/// Gathers (and scales) the next batch on a background thread while the current one trains.
/// Two input buffers alternate: the batch handed out by `next()` stays untouched until the
/// following call, while the other buffer is being filled.
final class BatchPrefetcher {
    private let set: ImageSet
    private let order: [Int]
    private let batchSize: Int
    private let scale: Float
    private let inputs: [FloatBuffer]
    private let labels: [UnsafeMutablePointer<Int32>]
    private let queue = DispatchQueue(label: "fashionbench.prefetch")
    private let group = DispatchGroup()
    private var cursor = 0
    private var slot = 0
    private var pending: (slot: Int, count: Int)?
    /// Training batches only: random transforms applied after gathering, each batch with its own
    /// generator drawn here (on the scheduling thread, so runs are deterministic).
    private let augmentation: AugmentationSettings?
    private var augmentGenerator: SeededGenerator
    /// One image, used only by the (serial) background queue.
    private let scratch: UnsafeMutablePointer<Float>?

    init(set: ImageSet, order: [Int], batchSize: Int, scale: Float, inputs: [FloatBuffer], labels: [UnsafeMutablePointer<Int32>],
         augmentation: AugmentationSettings? = nil, augmentGenerator: SeededGenerator = SeededGenerator(seed: 0)) {
        precondition(inputs.count == 2 && labels.count == 2)
        self.set = set
        self.order = order
        self.batchSize = batchSize
        self.scale = scale
        self.inputs = inputs
        self.labels = labels
        let augmentation = augmentation.flatMap { $0.isIdentity ? nil : $0 }
        precondition(augmentation == nil || set.shape.count == 3, "augmentation needs images of shape [height, width, channels]")
        self.augmentation = augmentation
        self.augmentGenerator = augmentGenerator
        scratch = augmentation == nil ? nil : .allocate(capacity: set.imageSize)
        schedule()
    }

    deinit {
        group.wait()  // a batch may still be in flight when training stops early
        scratch?.deallocate()
    }

    private func schedule() {
        guard cursor < order.count else { pending = nil; return }
        let range = cursor..<min(cursor + batchSize, order.count)
        // The buffers outlive the task (the caller waits on `group`), and nothing else
        // touches this slot until it is handed out.
        nonisolated(unsafe) let input = inputs[slot].pointer, label = labels[slot]
        let set = set, indices = order[range], scale = scale
        if let settings = augmentation, let scratch {
            nonisolated(unsafe) let scratch = scratch
            let batchSeed = augmentGenerator.next()
            queue.async(group: group) {
                var rng = SeededGenerator(seed: batchSeed, stream: "augment-batch")
                set.gather(indices, scale: scale, into: input, labels: label)
                let h = set.shape[0], w = set.shape[1], c = set.shape[2], size = set.imageSize
                // Keras transforms raw pixels and rescales afterwards: cval is in pixel units.
                let cval = settings.cval * scale
                for k in 0..<indices.count {
                    let p = Augmentation.randomParameters(settings, height: h, width: w, using: &rng)
                    let image = input + k * size
                    scratch.update(from: image, count: size)
                    Augmentation.apply(p, to: scratch, into: image, height: h, width: w, channels: c,
                                       fillMode: settings.fillMode, cval: cval)
                }
            }
        } else {
            queue.async(group: group) { set.gather(indices, scale: scale, into: input, labels: label) }
        }
        pending = (slot, range.count)
        cursor = range.upperBound
    }

    /// The next batch, or nil at the end of the epoch.
    func next() -> (input: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>, count: Int)? {
        guard let ready = pending else { return nil }
        group.wait()
        slot = ready.slot ^ 1
        schedule()
        return (inputs[ready.slot].pointer, labels[ready.slot], ready.count)
    }
}
