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

    init(set: ImageSet, order: [Int], batchSize: Int, scale: Float, inputs: [FloatBuffer], labels: [UnsafeMutablePointer<Int32>]) {
        precondition(inputs.count == 2 && labels.count == 2)
        self.set = set
        self.order = order
        self.batchSize = batchSize
        self.scale = scale
        self.inputs = inputs
        self.labels = labels
        schedule()
    }

    private func schedule() {
        guard cursor < order.count else { pending = nil; return }
        let range = cursor..<min(cursor + batchSize, order.count)
        // The buffers outlive the task (the caller waits on `group`), and nothing else
        // touches this slot until it is handed out.
        nonisolated(unsafe) let input = inputs[slot].pointer, label = labels[slot]
        let set = set, indices = order[range], scale = scale
        queue.async(group: group) { set.gather(indices, scale: scale, into: input, labels: label) }
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
